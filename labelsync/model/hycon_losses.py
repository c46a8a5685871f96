"""HyCon's hybrid contrastive losses (seed 002, Sections 3.3-3.5), registered in ``losses.py``.

They read ``x [B, M, d]`` from ``out.aux["hycon"]`` (the ``hycon`` fusion). Every unimodal
representation is softmax-normalised over its d features, so a pair's similarity ``s = a^T p``
lies in [0, 1]. Classes are the sentiment's sign for regression (negative vs non-negative: "we
only consider the positive and negative classes of sentiment"; the paper does not say where 0
goes) and the class id for single-label tasks. An anchor is one (sample, modality):

| term | eq. | positives / negatives of anchor (i, m) | per anchor |
|---|---|---|---|
| ``hycon_scl`` | 6 | (i, n != m) / none | ``mean (s - alpha)^2`` |
| ``hycon_iamcl`` | 7 | (j != i, m), same / other class | ``-S_p / (S_p + S_n)`` |
| ``hycon_iamcl_refine`` | 8 | its positives | ``mean (s - 1)^2`` |
| ``hycon_iemcl`` | 10 | (j != i, n != m), same / other class | ``-S_p / (S_p + S_n)`` |
| ``hycon_iemcl_refine`` | 11 | its positives | ``mean (s - alpha)^2`` |

``S_p``, ``S_n`` are plain sums (HyCon) or, with pair selection (HyCon-v2, eqs. 13-15), sums
over the ``h = round(K beta)`` hardest pairs (lowest-similarity positives, highest-similarity
negatives; K = batch size) weighted by ``w^p = softmax(1 / (s + gamma))`` (no gradient through
it) and ``w^n = softmax(s)``; the refinement terms then read the selected positives. Eq. 9 / 12
add the refinement to its loss under the same lambda: here they are separate terms with the same
weight, so "w/o refinement" is a weight of 0. An anchor without a positive or a negative takes
no part; a sample's term is the mean over its anchors (the paper's expectation over all sets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .losses import LossContext

__all__ = ["HYCON_TERMS", "pair_masks", "contrast", "similarities"]


def similarities(x: Tensor) -> Tensor:
    """``[B, M, d]`` -> ``[B*M, B*M]`` dot products of the softmax-normalised representations."""
    p = x.float().softmax(dim=-1).flatten(0, 1)
    return p @ p.T


def pair_masks(classes: Tensor, keep: Tensor, modalities: int) -> dict[str, Tensor]:
    """Boolean ``[B*M, B*M]`` masks of the pairs each loss uses (rows = anchors)."""
    b = len(classes)
    same_sample = torch.eye(b, dtype=torch.bool, device=classes.device)[:, None, :, None]
    same_mod = torch.eye(modalities, dtype=torch.bool, device=classes.device)[None, :, None, :]
    same_class = (classes[:, None] == classes[None, :])[:, None, :, None]
    valid = (keep[:, None] & keep[None, :])[:, None, :, None]
    other = ~same_sample & valid
    masks = {
        "intra_pos": other & same_mod & same_class,
        "intra_neg": other & same_mod & ~same_class,
        "inter_pos": other & ~same_mod & same_class,
        "inter_neg": other & ~same_mod & ~same_class,
        "semi_pos": same_sample & ~same_mod & valid,
    }
    shape = (b, modalities, b, modalities)
    return {k: v.expand(shape).reshape(b * modalities, b * modalities) for k, v in masks.items()}


def _hardest(sim: Tensor, mask: Tensor, h: int, lowest: bool) -> Tensor:
    """Eq. 13: the ``h`` pairs of ``mask`` with the lowest (or highest) similarity per row."""
    fill = float("inf") if lowest else float("-inf")
    scores = sim.detach().masked_fill(~mask, fill)
    index = scores.topk(min(h, sim.shape[1]), dim=1, largest=not lowest).indices
    chosen = torch.zeros_like(mask).scatter(1, index, True)
    return chosen & mask


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
    return weights.nan_to_num(0.0)  # rows without any pair


def contrast(sim: Tensor, pos: Tensor, neg: Tensor, options: Any, h: int) -> tuple[Tensor, Tensor]:
    """Eqs. 7/10 (with eqs. 13-15 when selecting) per anchor, and the positives it used."""
    if options.select_positives:
        pos = _hardest(sim, pos, h, lowest=True)
        weights = _masked_softmax(1.0 / (sim + options.selection_gamma), pos).detach()
        s_pos = (sim * weights).sum(dim=1)
    else:
        s_pos = (sim * pos).sum(dim=1)
    if options.select_negatives:
        neg = _hardest(sim, neg, h, lowest=False)
        s_neg = (sim * _masked_softmax(sim, neg)).sum(dim=1)
    else:
        s_neg = (sim * neg).sum(dim=1)
    loss = -s_pos / (s_pos + s_neg).clamp_min(1e-12)
    return loss.masked_fill(~(pos.any(dim=1) & neg.any(dim=1)), float("nan")), pos


def _squared_gap(sim: Tensor, pos: Tensor, target: float) -> Tensor:
    """``mean over the positives of (s - target)^2`` per anchor (NaN without a positive)."""
    count = pos.sum(dim=1)
    gap = ((sim - target) ** 2 * pos).sum(dim=1) / count.clamp_min(1)
    return gap.masked_fill(count == 0, float("nan"))


def _setup(model: Any, out: Any, context: LossContext) -> tuple[Tensor, dict, Any, int]:
    x = out.aux.get("hycon")
    if x is None:
        raise ValueError("the hycon_* loss terms need fusion: hycon")
    if getattr(context, "task", "single_label") == "regression":
        classes = (context.scores.nan_to_num(0.0) >= 0).long()  # sentiment sign
    else:
        classes = context.labels
    masks = pair_masks(classes, context.in_range, x.shape[1])
    h = max(1, round(len(classes) * model.fusion.options.selection_ratio))
    return similarities(x), masks, model.fusion.options, h


def _per_sample(per_anchor: Tensor, batch: int) -> Tensor:
    return per_anchor.view(batch, -1).nanmean(dim=1)


def semi_contrastive(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 6: the other modalities of the same sample, pulled to similarity alpha."""
    sim, masks, options, _ = _setup(model, out, context)
    return _per_sample(_squared_gap(sim, masks["semi_pos"], options.margin), len(context.labels))


def _contrastive(kind: str, refine: str | None) -> Any:
    """The IAMCL/IEMCL term (``refine`` None) or its refinement toward ``"one"``/``"margin"``."""

    def term(model: Any, out: Any, context: LossContext) -> Tensor:
        sim, masks, options, h = _setup(model, out, context)
        loss, used = contrast(sim, masks[f"{kind}_pos"], masks[f"{kind}_neg"], options, h)
        if refine is not None:  # eqs. 8 / 11 on the positives the loss used
            loss = _squared_gap(sim, used, 1.0 if refine == "one" else options.margin)
        return _per_sample(loss, len(context.labels))

    name = {"intra": "IAMCL (eq. 7)", "inter": "IEMCL (eq. 10)"}[kind]
    term.__doc__ = f"{name}{' refinement' if refine is not None else ''} per sample."
    return term


HYCON_TERMS = {
    "hycon_scl": semi_contrastive,
    "hycon_iamcl": _contrastive("intra", None),
    "hycon_iamcl_refine": _contrastive("intra", "one"),
    "hycon_iemcl": _contrastive("inter", None),
    "hycon_iemcl_refine": _contrastive("inter", "margin"),
}
