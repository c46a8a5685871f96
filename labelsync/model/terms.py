"""The registered loss terms (``ModelConfig.losses: {name: weight}``) that ship with labelsync.

Each is ``fn(model, output, context) -> [B]`` per-sample values, NaN where a sample takes no
part (``losses.register_loss``); the model averages each over the samples that take part:

- ``lemer_frames``: LE-MER eq. 6, ``L_g^s = CE(y, p_g^s)`` of the label-frame attention, averaged
  over the non-text modalities (mu_4 of eq. 12);
- ``lemer_constraint``: LE-MER eq. 10, ``L_c = ||A_l - A_r||^2`` (mu_2 of eq. 12), averaged over
  the modalities; label-free, so every sample (out-of-scope ones too) takes part;
- ``lgcl``: G2SAM's label-aware contrastive loss (seed 001, eq. 7) on the classifier input
  ``features`` (the representation kNN inference searches), temperature ``config.lgcl_tau``.

The LE-MER terms read ``output.aux["lemer"]`` (``lemer.py``); in a batch without video/audio
the fusion does not run and they are NaN for every sample (they add nothing).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .contrastive import label_contrastive_loss
from .lemer import AUX_KEY, attention_constraint
from .losses import LOSS_TERMS, LossContext, register_loss

__all__ = ["LOSS_TERMS", "lemer_frames", "lemer_constraint", "lgcl"]


def _nan(context: LossContext) -> Tensor:
    return torch.full(context.labels.shape, float("nan"), device=context.labels.device)


def lemer_frames(model: Any, out: Any, context: LossContext) -> Tensor:
    """LE-MER eq. 6 per sample: the label-frame CE, mean over the modalities."""
    parts = out.aux.get(AUX_KEY)
    if parts is None:
        return _nan(context)
    taking_part = context.in_range
    safe = context.labels.clamp(0, model.config.num_labels - 1)
    values = [
        nn.functional.cross_entropy(logits.float(), safe, reduction="none")
        for logits in parts["frame_logits"].values()
    ]
    mean = torch.stack(values).mean(dim=0)
    return mean.masked_fill(~taking_part, float("nan"))


def lemer_constraint(model: Any, out: Any, context: LossContext) -> Tensor:
    """LE-MER eq. 10 per sample, mean over the modalities."""
    parts = out.aux.get(AUX_KEY)
    if parts is None:
        return _nan(context)
    values = [
        attention_constraint(parts["a_r"][name], parts["a_l"][name], parts["text_mask"])
        for name in parts["a_r"]
    ]
    return torch.stack(values).mean(dim=0).float()


def lgcl(model: Any, out: Any, context: LossContext) -> Tensor:
    """G2SAM eq. 7's LGCL per sample on the classifier input."""
    taking_part = context.in_range
    if context.is_oos is not None:
        taking_part = taking_part & ~context.is_oos
    return label_contrastive_loss(
        out.features, context.labels, taking_part, tau=model.config.lgcl_tau
    )


register_loss("lemer_frames", lemer_frames)
register_loss("lemer_constraint", lemer_constraint)
register_loss("lgcl", lgcl)
