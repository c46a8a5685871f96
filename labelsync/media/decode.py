"""Decoding with PyAV (FFmpeg bundled in the wheel): frames sampled at a fixed rate, audio
resampled to mono at a fixed sample rate, optionally cut to ``[start, end)`` seconds.

Frame sampling: target times are ``start + k / fps``; each target takes the frame on screen at
that moment (the last frame whose timestamp is at or before it), so variable frame rates and
source rates below ``fps`` are handled the same way (a frame may repeat).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .base import Clip, MediaError

__all__ = ["decode_clip", "probe_streams"]

log = logging.getLogger(__name__)


def _scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    longest = max(width, height)
    if not max_side or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _is_cover_art(stream: Any) -> bool:
    """An attached picture (album art in an mp3) is a one-frame 'video' stream: not a video."""
    import av

    flag = getattr(getattr(av.stream, "Disposition", None), "attached_pic", None)
    disposition = getattr(stream, "disposition", None)
    return bool(flag is not None and disposition is not None and disposition & flag)


def _streams(container: Any) -> tuple[Any | None, Any | None]:
    video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
    audio = next(iter(container.streams.audio), None)
    return video, audio


def probe_streams(path: str | Path) -> dict[str, bool]:
    """``{"video": bool, "audio": bool}``: the streams ``path`` holds (MediaError if unreadable)."""
    import av

    try:
        with av.open(str(path)) as container:
            video, audio = _streams(container)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot open ({_reason(exc)})") from None
    return {"video": video is not None, "audio": audio is not None}


def _reason(exc: BaseException) -> str:
    """One line: FFmpeg's own words without the errno and path it wraps them in."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror.strip():
        return strerror.strip()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _FrameSampler:
    """Keeps the frames on screen at ``start + k / fps`` from a stream of timed frames."""

    def __init__(self, start: float, fps: float, max_side: int):
        self.start, self.fps, self.max_side = start, fps, max_side
        self.k = 0
        self.previous: tuple[Any, float] | None = None
        self.frames: list[np.ndarray] = []

    def target(self) -> float:
        return self.start + self.k / self.fps

    def _emit(self, frame: Any) -> None:
        width, height = _scaled_size(frame.width, frame.height, self.max_side)
        self.frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
        self.k += 1

    def add(self, frame: Any, time: float) -> None:
        if self.previous is not None:
            while self.target() < time:
                self._emit(self.previous[0])
        self.previous = (frame, time)

    def finish(self, end: float | None, frame_step: float) -> None:
        """Fill the targets up to ``end`` (or the last frame's end, whichever comes first)."""
        if self.previous is None:
            return
        last_end = self.previous[1] + frame_step
        stop = last_end if end is None else min(end, last_end)
        if stop <= self.start:  # the stream ended before the cut begins
            return
        if not self.frames and self.target() >= stop:  # a clip shorter than one step: one frame
            self._emit(self.previous[0])
        while self.target() < stop - 1e-9:
            self._emit(self.previous[0])


def decode_clip(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    fps: float = 5.0,
    sample_rate: int = 16000,
    video: bool = True,
    audio: bool = True,
    max_side: int = 640,
) -> Clip:
    """Decode ``path`` (cut to ``[start, end)`` seconds) into a ``Clip``.

    ``video``/``audio`` say which streams are wanted; a wanted stream the file lacks is None in
    the clip. Frames larger than ``max_side`` are scaled down. Raises MediaError on an unreadable
    file, a file with none of the wanted streams, or a range with no frames.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if fps <= 0:
        raise MediaError(f"fps must be > 0, got {fps}")
    begin = max(0.0, float(start or 0.0))
    if end is not None and end <= begin:
        raise MediaError(f"{path}: end {end} is not after start {begin}")
    try:
        with av.open(str(path)) as container:
            video_stream, audio_stream = _streams(container)
            video_stream = video_stream if video else None
            audio_stream = audio_stream if audio else None
            if video_stream is None and audio_stream is None:
                wanted = " or ".join(m for m, on in (("video", video), ("audio", audio)) if on)
                raise MediaError(f"{path}: no {wanted} stream")
            return _decode(
                container, path, video_stream, audio_stream, begin, end, fps, sample_rate, max_side
            )
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
        raise MediaError(f"{path}: cannot decode ({_reason(exc)})") from None


def _decode(
    container: Any,
    path: Path,
    video_stream: Any | None,
    audio_stream: Any | None,
    begin: float,
    end: float | None,
    fps: float,
    sample_rate: int,
    max_side: int,
) -> Clip:
    import av

    if begin > 0:
        container.seek(int(begin * av.time_base), backward=True, any_frame=False)
    streams = [s for s in (video_stream, audio_stream) if s is not None]
    for stream in streams:
        stream.thread_type = "AUTO"
    sampler = _FrameSampler(begin, fps, max_side)
    rate = video_stream.average_rate if video_stream is not None else None
    frame_step = 1.0 / float(rate) if rate else 1.0 / fps
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    audio_origin: float | None = None
    video_done = video_stream is None
    audio_done = audio_stream is None
    video_index = 0
    for packet in container.demux(*streams):
        if packet.stream is video_stream and not video_done:
            for frame in packet.decode():
                time = frame.time if frame.time is not None else video_index * frame_step
                video_index += 1
                if end is not None and time >= end:
                    video_done = True
                    break
                sampler.add(frame, time)
        elif packet.stream is audio_stream and not audio_done:
            for frame in packet.decode():
                if audio_origin is None:
                    audio_origin = frame.time if frame.time is not None else 0.0
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                if end is not None and frame.time is not None and frame.time >= end:
                    audio_done = True
        if video_done and audio_done:
            break
    if audio_stream is not None and not audio_done:
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    frames = None
    if video_stream is not None:
        sampler.finish(end, frame_step)
        if not sampler.frames:
            raise MediaError(
                f"{path}: no video frames from {begin:g} s"
                + (f" to {end:g} s" if end is not None else "")
            )
        frames = np.stack(sampler.frames)
    samples = None
    if audio_stream is not None:
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        offset = max(0, round((begin - (audio_origin or 0.0)) * sample_rate))
        stop = None if end is None else offset + round((end - begin) * sample_rate)
        samples = np.ascontiguousarray(samples[offset:stop])
        if frames is None and samples.size == 0:
            raise MediaError(f"{path}: no audio samples from {begin:g} s")
    duration = len(frames) / fps if frames is not None else samples.size / sample_rate
    log.debug(
        "%s: %s frames, %s samples",
        path,
        None if frames is None else len(frames),
        None if samples is None else samples.size,
    )
    return Clip(str(path), frames, fps, samples, sample_rate, float(duration))


def silence_for(clip: Clip) -> np.ndarray:
    """Zero samples as long as ``clip`` (for a video whose file has no audio track)."""
    return np.zeros(max(1, math.ceil(clip.duration * clip.sample_rate)), np.float32)
