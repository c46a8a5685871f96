"""CARAT's loss terms (seed 000, eqs. 3, 5, 7, 14, 15), registered by name in ``losses.py``.

Each is ``fn(model, out, context) -> [B]`` (NaN where a sample takes no part) over the tensors the
``carat`` fusion leaves in ``out.aux["carat"]`` (``CaratOutput``) and the multi-hot targets
``context.targets [B, C]``. The weights of eq. 15 are ``ModelConfig.losses`` (the ``carat``
preset: Table 4, ID 0); a weight of 0 removes exactly that term.

| term | equation | weight (Table 4, ID 0) |
|---|---|---|
| ``carat_lsr_o`` | eq. 5, BCE of s^o | gamma_o 0.01 |
| ``carat_lsr_alpha`` | eq. 5, BCE of s^alpha | gamma_alpha 0.1 |
| ``carat_lsr_beta`` | eq. 5, BCE of s^beta | gamma_beta 1 |
| ``carat_agg`` | eq. 14, BCE of h_c(q^m), mean over m | 1 |
| ``carat_agg_shuffled`` | eq. 14, BCE of h_c(q^^m) against the shuffled targets | gamma_sf 0.1 |
| ``carat_scl`` | eqs. 6-7, supervised contrastive over batch + queue | gamma_s 1 |
| ``carat_rec`` | eq. 3, reconstruction | gamma_r 1 |

Per sample, a BCE is the mean over the C labels, eq. 7's sum over anchors is the mean over the
sample's anchors, and eq. 3's Frobenius norms are mean squared errors over the C x d entries
(scales the weights absorb; docs/model.md). ``carat_scl`` also moves the memory while the model
trains: the prototypes take the batch (eq. 8) and the queue its embeddings, after the loss has
read them — so a run without contrastive learning keeps the term with weight 0 (the intrinsic
vectors still need the prototypes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .carat import CaratOutput
from .carat_memory import latent_classes, supervised_contrastive

if TYPE_CHECKING:  # pragma: no cover
    from .losses import LossContext

__all__ = ["CARAT_TERMS"]


def _parts(_model: Any, out: Any, context: LossContext) -> tuple[CaratOutput, Tensor, Tensor]:
    """The fusion's output, the targets ``[B, C]`` and the samples taking part ``[B]``."""
    result = out.aux.get("carat")
    if not isinstance(result, CaratOutput):
        raise ValueError("the carat_* loss terms need fusion: carat")
    targets = getattr(context, "targets", None)
    if targets is None:
        raise ValueError("the carat_* loss terms need multi-label targets (task: multi_label)")
    return result, targets.float(), context.in_range


def _nan(reference: Tensor) -> Tensor:
    return torch.full((len(reference),), float("nan"), device=reference.device)


def _bce(logits: Tensor | None, targets: Tensor, keep: Tensor) -> Tensor:
    """Per-sample BCE, mean over the labels (and over any leading modality axis)."""
    if logits is None:
        return _nan(targets)
    loss = nn.functional.binary_cross_entropy_with_logits(
        logits.float(), targets.expand_as(logits), reduction="none"
    )
    return loss.flatten(1).mean(dim=1).masked_fill(~keep, float("nan"))


def lsr_o(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 5, gamma_o part: BCE of the max-pooled ``s^o``."""
    result, targets, keep = _parts(model, out, context)
    return _bce(result.s_o, targets, keep)


def lsr_alpha(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 5, gamma_alpha part: BCE of ``s^alpha`` (no part without the first level)."""
    result, targets, keep = _parts(model, out, context)
    return _bce(result.s_alpha, targets, keep)


def lsr_beta(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 5, gamma_beta part: BCE of ``s^beta`` (no part without the second level)."""
    result, targets, keep = _parts(model, out, context)
    return _bce(result.s_beta, targets, keep)


def aggregated(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 14, first part: ``1/M sum_m BCE(h_c(q^m), y)``."""
    result, targets, keep = _parts(model, out, context)
    return _bce(result.agg, targets[:, None], keep)


def aggregated_shuffled(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 14, gamma_sf part: BCE of ``h_c(q^^m)`` against each vector's source targets."""
    result, targets, keep = _parts(model, out, context)
    if result.agg_shuffled is None:  # evaluation, or both shuffles off
        return _nan(targets)
    source = result.shuffle_source  # [B, M, C]
    label = torch.arange(targets.shape[1], device=targets.device).expand_as(source)
    shuffled_targets = targets[source, label]
    # a shuffled row takes part when every vector in it comes from a sample that takes part
    rows_keep = keep[source].flatten(1).all(dim=1)
    return _bce(result.agg_shuffled, shuffled_targets, rows_keep)


def reconstruction(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eq. 3: ``sum_m MSE(U_o^m, U~_o^m) + MSE(U_o^m, U_alpha^m)`` (the parts that exist)."""
    result, targets, keep = _parts(model, out, context)
    terms = [
        (result.u_o.float() - other.float()).pow(2).mean(dim=(2, 3)).sum(dim=1)
        for other in (result.u_decoded, result.u_alpha)
        if other is not None
    ]
    if not terms:
        return _nan(targets)
    return torch.stack(terms).sum(dim=0).masked_fill(~keep, float("nan"))


def contrastive(model: Any, out: Any, context: LossContext) -> Tensor:
    """Eqs. 6-7 over the batch's latent embeddings and the queue; then the memory moves."""
    result, targets, keep = _parts(model, out, context)
    fusion = model.fusion
    if result.latent is None or not bool(keep.any()):
        return _nan(targets)
    b, m, levels, c, _ = result.latent.shape
    classes = latent_classes(targets, m, levels)  # [B, M, L, C]
    anchors = result.latent[keep].float().flatten(0, 3)
    anchor_class = classes[keep].flatten()
    queued, queued_class = fusion.memory.contents()
    pool = torch.cat([anchors, queued.to(anchors.dtype)])
    pool_class = torch.cat([anchor_class, queued_class])
    per_anchor = supervised_contrastive(
        anchors, anchor_class, pool, pool_class, fusion.options.temperature
    )
    per_sample = _nan(targets).masked_scatter(
        keep, per_anchor.view(-1, m * levels * c).nanmean(dim=1)
    )
    if model.training and torch.is_grad_enabled():
        fusion.memory.update_prototypes(anchors.detach(), anchor_class)
        fusion.memory.enqueue(anchors.detach(), anchor_class)
    return per_sample


CARAT_TERMS = {
    "carat_lsr_o": lsr_o,
    "carat_lsr_alpha": lsr_alpha,
    "carat_lsr_beta": lsr_beta,
    "carat_agg": aggregated,
    "carat_agg_shuffled": aggregated_shuffled,
    "carat_scl": contrastive,
    "carat_rec": reconstruction,
}
