"""Hugging Face extractors, for users who have the weights (a hub id in the local cache or a
local folder; nothing is fetched when ``HF_HUB_OFFLINE=1``).

- ``HFAudioExtractor``: a speech encoder (wav2vec 2.0 as in MIntRec, WavLM as in MIntRec2.0):
  the last hidden state, one row per encoder frame (20 ms for these models).
- ``HFFrameExtractor``: an image encoder (CLIP, Swin, ViT, ...) on every sampled frame, in
  batches: one pooled vector per frame (CLIP: the projected image embedding). A video model
  (VideoMAE) reads windows of its ``num_frames`` frames instead: one row per tubelet step,
  averaged over the patches.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from .base import Clip, Extractor, MediaError

__all__ = ["HFAudioExtractor", "HFFrameExtractor", "HF_ALIASES"]

log = logging.getLogger(__name__)

# short names for the checkpoints the MIntRec papers used
HF_ALIASES = {
    "wav2vec2": "facebook/wav2vec2-base-960h",
    "wavlm": "microsoft/wavlm-base-plus",
    "clip": "openai/clip-vit-base-patch32",
    "swin": "microsoft/swin-base-patch4-window7-224",
    "videomae": "MCG-NJU/videomae-base",
}
_AUDIO_CHUNK_SECONDS = 30.0  # long audio is encoded in pieces (attention cost is quadratic)
_MIN_AUDIO_SAMPLES = 400  # the convolutional front end needs 25 ms


def _device(device: str) -> Any:
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise MediaError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return torch.device(device)


def _load(model_id: str, loader: Any, what: str) -> Any:
    try:
        return loader.from_pretrained(model_id)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MediaError(
            f"{model_id}: cannot load the Hugging Face {what} ({first}); give a local folder "
            f"or a hub id whose weights are in the local cache"
        ) from None


class _HFExtractor(Extractor):
    """Shared loading, versioning and batching of a transformers model."""

    def __init__(self, name: str, *, device: str = "cpu", batch_size: int = 16):
        import transformers

        self.model_id = HF_ALIASES.get(name, name)
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.device = _device(device)
        self._transformers_version = transformers.__version__
        self.config = _load(self.model_id, transformers.AutoConfig, "config")

    def version(self) -> str:
        revision = getattr(self.config, "_commit_hash", None)
        at = f"@{revision[:12]}" if revision else ""
        return f"transformers {self._transformers_version}, {self.model_id}{at}"

    def details(self) -> dict[str, Any]:
        return {"model": self.model_id, "model_type": self.config.model_type}

    def _forward(self, **inputs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return self.model(**{k: v.to(self.device) for k, v in inputs.items()})

    def close(self) -> None:
        self.model = None


class HFAudioExtractor(_HFExtractor):
    """A speech encoder's last hidden state: ``(T, hidden)``, T = one row per encoder frame."""

    modality = "audio"

    def __init__(self, name: str, *, device: str = "cpu", batch_size: int = 16, **_: Any):
        super().__init__(name, device=device, batch_size=batch_size)
        import transformers

        self.processor = _load(
            self.model_id, transformers.AutoFeatureExtractor, "feature extractor"
        )
        self.model = _load(self.model_id, transformers.AutoModel, "model").to(self.device).eval()
        self.sample_rate = int(getattr(self.processor, "sampling_rate", 16000))
        self.dim = int(self.config.hidden_size)
        stride = math.prod(getattr(self.config, "conv_stride", None) or [320])
        self.frame_rate = self.sample_rate / stride

    def details(self) -> dict[str, Any]:
        return {**super().details(), "sample_rate": self.sample_rate}

    def extract(self, clip: Clip) -> np.ndarray:
        if clip.audio is None:
            raise MediaError(f"{clip.path}: no audio for {self.model_id}")
        if clip.sample_rate != self.sample_rate:
            raise MediaError(
                f"{self.model_id} expects {self.sample_rate} Hz audio, the clip was decoded at "
                f"{clip.sample_rate} Hz (set sample_rate={self.sample_rate})"
            )
        signal = clip.audio
        if signal.size < _MIN_AUDIO_SAMPLES:
            signal = np.pad(signal, (0, _MIN_AUDIO_SAMPLES - signal.size))
        step = int(_AUDIO_CHUNK_SECONDS * self.sample_rate)
        rows = []
        for begin in range(0, signal.size, step):
            piece = signal[begin : begin + step]
            if piece.size < _MIN_AUDIO_SAMPLES:  # a sliver at the end adds no encoder frame
                break
            inputs = self.processor(piece, sampling_rate=self.sample_rate, return_tensors="pt")
            inputs = {k: v for k, v in inputs.items() if k == "input_values"}
            rows.append(self._forward(**inputs).last_hidden_state[0].float().cpu().numpy())
        return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


class HFFrameExtractor(_HFExtractor):
    """An image encoder on every sampled frame (or a video encoder on windows of frames)."""

    modality = "video"

    def __init__(
        self, name: str, *, device: str = "cpu", batch_size: int = 16, fps: float = 5.0, **_: Any
    ):
        super().__init__(name, device=device, batch_size=batch_size)
        import transformers

        self.processor = _load(self.model_id, transformers.AutoImageProcessor, "image processor")
        self.model = _load(self.model_id, transformers.AutoModel, "model").to(self.device).eval()
        self.window = int(getattr(self.config, "num_frames", 0) or 0)  # video models (VideoMAE)
        self.tubelet = int(getattr(self.config, "tubelet_size", 1) or 1)
        self.frame_rate = float(fps) / (self.tubelet if self.window else 1)
        blank = np.zeros((1, 64, 64, 3), np.uint8)
        self.dim = int(self._encode(blank).shape[-1])

    def details(self) -> dict[str, Any]:
        mode = f"windows of {self.window} frames" if self.window else "one vector per frame"
        return {**super().details(), "mode": mode}

    def extract(self, clip: Clip) -> np.ndarray:
        if not clip.has_video:
            raise MediaError(f"{clip.path}: no video frames for {self.model_id}")
        return np.ascontiguousarray(self._encode(clip.frames), dtype=np.float32)

    def _encode(self, frames: np.ndarray) -> np.ndarray:
        if self.window:
            return self._encode_windows(frames)
        rows = []
        for begin in range(0, len(frames), self.batch_size):
            batch = list(frames[begin : begin + self.batch_size])
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            rows.append(self._pooled(pixels))
        return np.concatenate(rows)

    def _pooled(self, pixels: Any) -> np.ndarray:
        import torch

        if hasattr(self.model, "get_image_features"):  # CLIP-like: the projected embedding
            with torch.inference_mode():
                out = self.model.get_image_features(pixel_values=pixels.to(self.device))
            pooled = out if isinstance(out, torch.Tensor) else out.pooler_output
        else:
            out = self._forward(pixel_values=pixels)
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                pooled = out.last_hidden_state.mean(dim=1)
        return pooled.reshape(pooled.shape[0], -1).float().cpu().numpy()

    def _encode_windows(self, frames: np.ndarray) -> np.ndarray:
        """VideoMAE-style: ``num_frames`` windows -> one row per tubelet, mean over patches."""
        steps = math.ceil(len(frames) / self.tubelet)
        count = math.ceil(len(frames) / self.window) * self.window
        padded = np.concatenate([frames, np.repeat(frames[-1:], count - len(frames), axis=0)])
        windows = [list(padded[i : i + self.window]) for i in range(0, count, self.window)]
        rows = []
        for begin in range(0, len(windows), self.batch_size):
            batch = windows[begin : begin + self.batch_size]
            pixels = self.processor(batch, return_tensors="pt")["pixel_values"]
            hidden = self._forward(pixel_values=pixels).last_hidden_state
            per_step = self.window // self.tubelet
            hidden = hidden.reshape(hidden.shape[0], per_step, -1, hidden.shape[-1]).mean(dim=2)
            rows.append(hidden.reshape(-1, hidden.shape[-1]).float().cpu().numpy())
        return np.concatenate(rows)[:steps]
