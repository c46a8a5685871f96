"""Label-guided attention (seed 001, LE-MER "label-token attention", eqs. 1-3).

Label embeddings L come from the label descriptions (mean of a label's description embeddings,
projected to the encoder width, plus a learned per-label offset so a label without descriptions
still has a trainable embedding). With H the encoder's token sequence:

- eq. 1: ``G = cos(H, L)``, shape ``[B, T, K]``;
- eq. 2: ``p = softmax(s * MeanPool_valid(G))``; ``s`` is a learned scale (initial
  ``label_logit_scale``) because softmax over raw cosines in [-1, 1] is nearly uniform — with
  ``s = 1`` this is the printed formula;
- eq. 3: ``L_g = CE(y, p)`` — computed by the model from ``logits = s * MeanPool(G)``;
- summary: every label attends over the valid tokens (``softmax_t(s * G[:, t, k])``), giving one
  label-attended vector per label; they are averaged with weights p into one vector that joins the
  classifier input.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["LabelGuidedAttention", "LabelAttentionOutput", "mean_description_embeddings"]

log = logging.getLogger(__name__)

_MAX_LOG_SCALE = math.log(100.0)  # the scale is clamped to at most 100 (as CLIP does)


@dataclass
class LabelAttentionOutput:
    """What the label-guided attention produces for a batch."""

    logits: (
        Tensor  # [B, K] s * MeanPool(G): the auxiliary classifier's logits (eq. 2 before softmax)
    )
    summary: Tensor | None  # [B, d] label-attended token summary, weighted by p (if asked for)
    similarity: Tensor  # [B, T, K] G = cos(H, L) (eq. 1), zero at padded tokens


def mean_description_embeddings(descriptions: Tensor, mask: Tensor) -> Tensor:
    """Mean of each label's real descriptions: ``[K, n, D]`` + mask ``[K, n]`` -> ``[K, D]``."""
    weights = mask.to(descriptions.dtype)[..., None]
    return (descriptions * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class LabelGuidedAttention(nn.Module):
    """LE-MER label-token attention over a token sequence, label embeddings from descriptions."""

    def __init__(self, hidden_dim: int, desc_dim: int, num_labels: int, logit_scale: float = 10.0):
        super().__init__()
        self.label_proj = nn.Linear(desc_dim, hidden_dim)
        self.label_offset = nn.Parameter(torch.zeros(num_labels, hidden_dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(logit_scale)))

    @property
    def scale(self) -> Tensor:
        """The learned scale s applied to the cosine scores."""
        return self.log_scale.clamp(max=_MAX_LOG_SCALE).exp()

    def label_embeddings(self, descriptions: Tensor, mask: Tensor) -> Tensor:
        """L ``[K, d]``: projected mean description embedding + a learned per-label offset."""
        return self.label_proj(mean_description_embeddings(descriptions, mask)) + self.label_offset

    def forward(
        self,
        hidden: Tensor,
        token_mask: Tensor,
        descriptions: Tensor,
        description_mask: Tensor,
        *,
        summary: bool = True,
    ) -> LabelAttentionOutput:
        """``hidden [B, T, d]``, ``token_mask [B, T]`` (True/1 = real token); ``summary=False``
        skips the label-attended summary (LE-MER's label-frame attention needs only G and p)."""
        valid = token_mask.bool()
        labels = self.label_embeddings(descriptions, description_mask)  # [K, d]
        sim = torch.einsum(  # eq. 1
            "btd,kd->btk",
            nn.functional.normalize(hidden, dim=-1),
            nn.functional.normalize(labels, dim=-1),
        )
        sim = sim.masked_fill(~valid[..., None], 0.0)
        counts = valid.sum(dim=1, keepdim=True).clamp_min(1).to(sim.dtype)  # [B, 1]
        scale = self.scale
        logits = scale * sim.sum(dim=1) / counts  # eq. 2: mean over the valid tokens only
        if not summary:
            return LabelAttentionOutput(logits=logits, summary=None, similarity=sim)
        # each label's attention over the tokens; padded tokens get no weight
        scores = (scale * sim).masked_fill(~valid[..., None], torch.finfo(sim.dtype).min)
        attention = scores.softmax(dim=1)  # [B, T, K]
        per_label = torch.einsum("btk,btd->bkd", attention, hidden)  # [B, K, d]
        pooled = torch.einsum("bk,bkd->bd", logits.softmax(dim=-1), per_label)
        return LabelAttentionOutput(logits=logits, summary=pooled, similarity=sim)
