"""Clips made with PyAV for the media tests: a real face (scikit-image's astronaut) or none
(its coffee cup), moving across the frame, with a tone, a silent track, or no audio at all."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

RATE = 16000


def _still(name: str, size: int) -> np.ndarray:
    """A scikit-image photo resized to ``size + size // 4`` square (room to move the crop)."""
    from skimage import data
    from skimage.transform import resize

    image = getattr(data, name)()
    side = size + size // 4
    return (resize(image, (side, side), anti_aliasing=True) * 255).astype(np.uint8)


def tone(seconds: float, hz: float | None, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone (zeros when ``hz`` is None) at 16 kHz, float32."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t) if hz else np.zeros_like(t)).astype(np.float32)


def _write_audio(container, stream, signal: np.ndarray) -> None:
    import av

    for begin in range(0, len(signal), 1024):
        piece = np.ascontiguousarray(signal[None, begin : begin + 1024])
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate, frame.pts = RATE, begin
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_clip(
    path: Path,
    image: str | np.ndarray | None = "astronaut",
    *,
    seconds: float = 2.0,
    fps: int = 25,
    size: int | tuple[int, int] = 160,
    audio: np.ndarray | None = None,
    shift: int = 0,
) -> Path:
    """An H.264 mp4 of ``image`` (a scikit-image name, an array larger than the frame, or None
    for mid-grey) sliding sideways, ``size`` square or ``(width, height)``, with an AAC
    ``audio`` track when given (no audio track when ``audio`` is None)."""
    import av

    width, height = (size, size) if isinstance(size, int) else size
    if image is None:
        still = np.full((height + height // 4, width + width // 4, 3), 128, np.uint8)
    else:
        still = _still(image, max(width, height)) if isinstance(image, str) else image
    margin, top = still.shape[1] - width, (still.shape[0] - height) // 2
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream("aac", rate=RATE)
            sound.layout = "mono"
        for i in range(int(seconds * fps)):
            dx = int(np.clip(margin / 2 + shift + margin / 2 * np.sin(i / 6), 0, margin))
            crop = np.ascontiguousarray(still[top : top + height, dx : dx + width])
            for packet in video.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            _write_audio(container, sound, audio)
    return path


def write_numbered_clip(path: Path, frames: int, fps: int, size: int = 32, step: int = 4) -> Path:
    """Frame ``i`` is uniformly grey level ``step * i``: the sampled frames tell which they were."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        for i in range(frames):
            grey = np.full((size, size, 3), step * i, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path


def write_wav(path: Path, signal: np.ndarray) -> Path:
    """A 16-bit PCM wav file (audio only)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=RATE)
        stream.layout = "mono"
        _write_audio(container, stream, signal)
    return path


@functools.cache
def _shared_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="labelsync-media-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def clip_folder() -> Path:
    """One folder of test clips, built once per session (treat it as read-only):

    ``face`` astronaut + 220 Hz, ``noface`` coffee + 440 Hz, ``silent`` astronaut + a silent
    track, ``mute`` coffee without an audio track (2 s each, 25 fps), ``voice.wav`` 300 Hz
    (1.5 s, audio only) and ``broken.mp4``, the first 3 kB of the face clip.
    """
    folder = _shared_dir() / "clips"
    folder.mkdir()
    write_clip(folder / "face.mp4", "astronaut", audio=tone(2.0, 220))
    write_clip(folder / "noface.mp4", "coffee", audio=tone(2.0, 440))
    write_clip(folder / "silent.mp4", "astronaut", audio=tone(2.0, None))
    write_clip(folder / "mute.mp4", "coffee", audio=None)
    write_wav(folder / "voice.wav", tone(1.5, 300))
    (folder / "broken.mp4").write_bytes((folder / "face.mp4").read_bytes()[:3000])
    return folder


def copy_clips(target: Path, names: tuple[str, ...]) -> Path:
    """A folder holding copies of some of the shared clips."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(clip_folder() / name, target / name)
    return target
