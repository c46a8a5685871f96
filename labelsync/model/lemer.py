"""LE-MER label-guided fusion (seed 001, "Leveraging Label Information for Multimodal Emotion
Recognition", eqs. 4-10): label-frame attention and the label-guided cross-attention.

The text side (eqs. 1-3: ``G_t``, ``p_g^t``, ``L_g^t``) is the label-token head
(``label_attention.py``); this fusion runs after the encoder (stage ``"output"``) and reads its
``G_t`` from the ``FusionContext``. For every non-text modality ``s`` (audio in LE-MER; video the
same way):

- ``H_s = LayerNorm(Linear(E_s))``: the frames at the encoder width d (LE-MER fine-tunes
  wav2vec 2.0; here the features are pre-extracted, so a projection stands in for it);
- eqs. 4-5: ``G_s = cos(H_s, L_s)``, ``p_g^s = softmax(MeanPool(G_s))``: label-frame attention, a
  ``LabelGuidedAttention`` with its own label embeddings ``L_s`` (from the description
  embeddings, like ``L_t``); eq. 6 (``L_g^s``) is the loss term ``lemer_frames``;
- eq. 7: ``A_r = softmax((H_t W) H_s^T / sqrt(d))`` over the real frames (vanilla cross-attention;
  the slides print ``Softmax(H_t H_s^T W)`` without the scale);
- eq. 9: ``A_l = softmax(G_t G_s^T)`` over the real frames (label-guided; the slides print
  ``G_t G_s^T`` unnormalised: the softmax makes it an attention map comparable with ``A_r``);
- eq. 8: ``H'_s = A_r H_s`` (printed ``A_r H_s^T``; the shapes need ``H_s``);
- ``H_m = [H_t, H'_s]`` followed by a linear layer back to d, written as the residual
  ``LayerNorm(H_t + Dropout(W [H'_v; H'_a]))`` (a concatenation then a linear layer with the text
  block kept at identity), so the model's heads read the width they always read;
- eq. 10: ``L_c = ||A_l - A_r||^2`` per sample (``attention_constraint``).

``A_r``, ``A_l``, the text mask and the frame logits go to ``FusionOutput.aux["lemer"]``, where
the two loss terms (``losses.LOSS_TERMS``) read them:

- ``lemer_frames``: eq. 6, ``L_g^s = CE(y, p_g^s)``, the mean over the non-text modalities
  (mu_4 of eq. 12);
- ``lemer_constraint``: eq. 10, the mean over the modalities (mu_2 of eq. 12); label-free, so
  every sample (out-of-scope ones too) takes part.

In a batch without video/audio the fusion does not run and both terms are NaN for every sample
(they add nothing). Padded text tokens and frames never change the result.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .blocks import FusionOutput
from .label_attention import LabelGuidedAttention

__all__ = [
    "LabelGuidedFusion",
    "attention_constraint",
    "masked_softmax",
    "frames_term",
    "constraint_term",
    "AUX_KEY",
]

AUX_KEY = "lemer"  # FusionOutput.aux / ModelOutput.aux key of what the loss terms read


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis where ``mask [B, 1, L]`` is true (0 elsewhere)."""
    low = torch.finfo(scores.dtype).min
    return scores.masked_fill(~mask, low).softmax(dim=-1).masked_fill(~mask, 0.0)


def attention_constraint(a_r: Tensor, a_l: Tensor, text_mask: Tensor) -> Tensor:
    """Eq. 10 per sample ``[B]``: ``||A_l - A_r||^2`` over the real (token, frame) pairs, divided
    by the number of real text tokens so that text length and padding do not scale it."""
    rows = text_mask.to(a_r.dtype)
    squared = (a_l - a_r).pow(2).sum(dim=-1)  # [B, l_t]
    return (squared * rows).sum(dim=1) / rows.sum(dim=1).clamp_min(1.0)


class FrameStream(nn.Module):
    """One non-text modality: frames to width d, label-frame attention, ``A_r`` and ``A_l``."""

    def __init__(self, in_dim: int, dim: int, desc_dim: int, num_labels: int, logit_scale: float):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(in_dim, dim), nn.LayerNorm(dim))
        self.labels = LabelGuidedAttention(dim, desc_dim, num_labels, logit_scale)  # L_s
        self.query = nn.Linear(dim, dim, bias=False)  # W of eq. 7
        self.scale = 1.0 / math.sqrt(dim)

    def forward(
        self,
        text: Tensor,
        text_similarity: Tensor,
        frames: Tensor,
        frame_mask: Tensor,
        descriptions: Tensor,
        description_mask: Tensor,
    ) -> dict[str, Tensor]:
        """``H'_s`` and the parts the loss terms read (frame logits, ``A_r``, ``A_l``)."""
        h_s = self.project(frames)  # [B, L, d]
        label = self.labels(h_s, frame_mask, descriptions, description_mask, summary=False)
        columns = frame_mask[:, None, :]  # [B, 1, L]
        a_r = masked_softmax(self.query(text) @ h_s.transpose(1, 2) * self.scale, columns)
        a_l = masked_softmax(text_similarity @ label.similarity.transpose(1, 2), columns)
        return {"attended": a_r @ h_s, "logits": label.logits, "a_r": a_r, "a_l": a_l}


class LabelGuidedFusion(nn.Module):
    """LE-MER eqs. 4-9 on the encoder output ``H_t``: ``hidden -> H_m`` (same shape)."""

    def __init__(
        self,
        hidden: int,
        modality_dims: dict[str, int],
        *,
        desc_dim: int,
        num_labels: int,
        logit_scale: float = 10.0,
        dropout: float = 0.1,
    ):
        super().__init__()
        if not modality_dims:
            raise ValueError("LE-MER fusion needs at least one non-text modality")
        self.streams = nn.ModuleDict(
            {
                name: FrameStream(dim, hidden, desc_dim, num_labels, logit_scale)
                for name, dim in modality_dims.items()
            }
        )
        self.merge = nn.Linear(len(modality_dims) * hidden, hidden)  # W of [H_t, H'_s] -> d
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
        context: Any = None,
    ) -> FusionOutput:
        """``hidden = H_t [B, l_t, d]`` -> ``H_m`` and, in ``aux``, what the loss terms need;
        ``context``: a ``fusion.FusionContext`` with the descriptions and ``G_t``."""
        if context is None or context.text_similarity is None or context.descriptions is None:
            raise ValueError(
                "the le-mer fusion needs the label-token similarity G_t and the label "
                "descriptions (use_label_attention, set_descriptions)"
            )
        text_mask = text_mask.bool()
        g_t = context.text_similarity  # [B, l_t, K], zero at padded tokens
        parts: dict[str, dict[str, Tensor]] = {}
        for name, stream in self.streams.items():
            parts[name] = stream(
                hidden,
                g_t,
                features[name],
                masks[name].bool(),
                context.descriptions,
                context.description_mask,
            )
        attended = torch.cat([parts[name]["attended"] for name in self.streams], dim=-1)
        fused = self.norm(hidden + self.dropout(self.merge(attended)))  # eq. 8: [H_t, H'_s] -> d
        aux = {
            "text_mask": text_mask,
            "frame_logits": {name: part["logits"] for name, part in parts.items()},
            "a_r": {name: part["a_r"] for name, part in parts.items()},
            "a_l": {name: part["a_l"] for name, part in parts.items()},
        }
        return FusionOutput(fused, {AUX_KEY: aux})


def _nan(labels: Tensor) -> Tensor:
    return torch.full(labels.shape, float("nan"), device=labels.device)


def frames_term(_model: Any, out: Any, context: Any) -> Tensor:
    """The ``lemer_frames`` loss term: eq. 6 per sample, the label-frame CE averaged over the
    modalities; NaN for labels outside the model's classes and in text-only batches."""
    parts = out.aux.get(AUX_KEY)
    if parts is None:
        return _nan(context.labels)
    values = [_label_loss(logits, context) for logits in parts["frame_logits"].values()]
    return torch.stack(values).mean(dim=0).masked_fill(~context.in_range, float("nan"))


def _label_loss(logits: Tensor, context: Any) -> Tensor:
    """Per sample: CE against the class, or BCE per label for a multi-label model (as the
    label-token head's loss, ``tasks.label_attention_loss``)."""
    if context.task == "multi_label":
        targets = context.targets.to(logits.device)
        bce = nn.functional.binary_cross_entropy_with_logits
        return bce(logits.float(), targets, reduction="none").mean(dim=1)
    safe = context.labels.clamp(0, logits.shape[1] - 1)  # out-of-range rows are masked after
    return nn.functional.cross_entropy(logits.float(), safe, reduction="none")


def constraint_term(_model: Any, out: Any, context: Any) -> Tensor:
    """The ``lemer_constraint`` loss term: eq. 10 per sample, averaged over the modalities."""
    parts = out.aux.get(AUX_KEY)
    if parts is None:
        return _nan(context.labels)
    values = [
        attention_constraint(parts["a_r"][name], parts["a_l"][name], parts["text_mask"])
        for name in parts["a_r"]
    ]
    return torch.stack(values).mean(dim=0).float()
