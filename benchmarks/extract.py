"""Speed of the raw-media extractors on CPU: clips/s and real-time factor, one JSON line per
extractor and worker count.

    python benchmarks/extract.py [--clips 4] [--seconds 10] [--workers 1 2] [--size 640x360]
                                 [--hf-audio PATH_OR_ID] [--hf-video PATH_OR_ID]

The clips are synthetic: 10-second, 25-fps H.264 videos (640x360 by default) of scikit-image's
astronaut photo drifting across a grey scene, with a voiced-like audio track (a 140 Hz tone
with harmonics and vibrato). Each row runs ``extract_features`` over all clips into a fresh
folder, so it includes decoding, the extractors' start-up (and the workers' spawn) and writing.
``rtf`` = wall seconds / seconds of media (below 1: faster than real time); ``rtf_per_core`` =
``rtf`` x workers, the cost on one core. ``steady_clips_per_s`` leaves out the start-up (first
clip done -> last clip done). The 1-minute load average is reported because the numbers are only
as good as the machine was idle. Hugging Face rows (``--hf-*``) run on CPU, and on CUDA when a
GPU is present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # media_clips: the clip writer the tests use


def voice(seconds: float, rate: int = 16000) -> np.ndarray:
    """A voiced-like signal: 140 Hz with 5 harmonics, 5 Hz vibrato, syllable-rate loudness."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * tone * envelope).astype(np.float32)


def write_clips(folder: Path, count: int, seconds: float, width: int, height: int) -> list[Path]:
    """``count`` clips of the astronaut (placed in a wider grey scene) drifting sideways."""
    from media_clips import _still, write_clip

    face = _still("astronaut", height // 2)
    scene = np.full((height + height // 4, width + width // 4, 3), 110, np.uint8)
    top, left = height // 4, width // 3
    scene[top : top + face.shape[0], left : left + face.shape[1]] = face
    paths = []
    for i in range(count):
        path = folder / f"clip_{i}.mp4"
        write_clip(
            path, scene, seconds=seconds, size=(width, height), audio=voice(seconds), shift=i
        )
        paths.append(path)
    return paths


def run(
    media: Path, out: Path, label: str, workers: int, seconds: float, count: int, **settings
) -> dict:
    from labelsync.media import extract_features

    done: list[float] = []
    start = time.perf_counter()
    result = extract_features(
        media,
        out,
        workers=workers,
        progress=False,
        on_clip=lambda key: done.append(time.perf_counter()),
        **settings,
    )
    wall = time.perf_counter() - start
    steady = (
        (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else None
    )
    duration = seconds * count
    found = {}
    description = json.loads((out / "extract.json").read_text())
    layout = (description.get("video") or {}).get("layout")
    if layout:  # share of sampled frames where each landmark part was found
        from safetensors.numpy import load_file

        frames = np.concatenate(list(load_file(str(out / "video_feats.safetensors")).values()))
        found = {
            part: round(float(frames[:, s["slice"][0]].mean()), 3) for part, s in layout.items()
        }
    return {
        "extractor": label,
        "workers": workers,
        "device": settings.get("device", "cpu"),
        "clips": count,
        "clip_seconds": seconds,
        "failed": result.failed,
        "dims": result.dims,
        "found": found or None,
        "wall_s": round(wall, 2),
        "clips_per_s": round(count / wall, 3),
        "steady_clips_per_s": round(steady, 3) if steady else None,
        "rtf": round(wall / duration, 3),
        "rtf_per_core": round(wall * workers / duration, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "data": "synthetic clips",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the clips")
    parser.add_argument("--hf-audio", default=None, help="a local wav2vec2/WavLM model")
    parser.add_argument("--hf-video", default=None, help="a local CLIP/Swin/VideoMAE model")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configs = [
        ("mediapipe (face+pose+hands)", {"video": "mediapipe", "audio": None}),
        ("mediapipe-face", {"video": "mediapipe-face", "audio": None}),
        ("egemaps", {"video": None, "audio": "egemaps"}),
        ("mediapipe + egemaps", {"video": "mediapipe", "audio": "egemaps"}),
    ]
    devices = ["cpu"]
    if args.hf_audio or args.hf_video:
        import torch

        devices += ["cuda"] if torch.cuda.is_available() else []
    for device in devices:
        if args.hf_audio:
            configs.append(
                (
                    f"hf audio {args.hf_audio}",
                    {"video": None, "audio": args.hf_audio, "device": device},
                )
            )
        if args.hf_video:
            configs.append(
                (
                    f"hf video {args.hf_video}",
                    {"video": args.hf_video, "audio": None, "device": device},
                )
            )
    with tempfile.TemporaryDirectory(prefix="labelsync-bench-extract-") as tmp:
        media = Path(tmp) / "media"
        media.mkdir()
        write_clips(media, args.clips, args.seconds, width, height)
        print(
            json.dumps(
                {
                    "setup": "clips",
                    "count": args.clips,
                    "seconds": args.seconds,
                    "fps": 25,
                    "size": f"{width}x{height}",
                    "python": platform.python_version(),
                }
            ),
            flush=True,
        )
        for index, (label, settings) in enumerate(configs):
            workers_list = [1] if settings.get("device") == "cuda" else args.workers
            for workers in workers_list:
                out = Path(tmp) / f"out-{index}-{workers}"
                row = run(media, out, label, workers, args.seconds, args.clips, **settings)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
