"""Task types: what the classifier head predicts and the loss that trains it (``ModelConfig.task``).

- ``single_label``: one class per sample; softmax over ``num_labels`` and cross-entropy (loss
  term ``ce``). The A-MESS setting (seed 003).
- ``multi_label``: any subset of the labels per sample (seed 000, CARAT's emotion sets); one
  sigmoid per label and binary cross-entropy averaged over the labels (term ``bce``). A sample's
  targets are the multi-hot ``[K]`` of its labels; a prediction keeps every label whose
  probability reaches that label's threshold (``ModelConfig.thresholds``, chosen on dev by the
  trainer; 0.5 without them).
- ``regression``: one real score per sample (seed 002, HyCon's sentiment in [-3, 3]); a scalar
  head (``num_labels == 1``: the one label is the quantity's name, e.g. ``sentiment``) trained by
  the mean absolute error (term ``mae``; ``regression_loss: mse`` for the squared error).

Targets travel in the batch: ``label_id [B]`` (long, every task: the class; for multi-label the
first label or -1; for regression 0), ``label_ids [B, M]`` (long, multi-label: each sample's
label ids, padded with -100) and ``score [B]`` (float, regression). ``loss_context`` checks them
and turns them into the ``LossContext`` every loss term reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .losses import LossContext

__all__ = [
    "IGNORE_INDEX",
    "multi_hot",
    "loss_context",
    "main_loss",
    "label_attention_loss",
    "description_targets",
]

IGNORE_INDEX = -100


def multi_hot(label_ids: Tensor, num_labels: int) -> Tensor:
    """``[B, M]`` label ids (padding < 0) -> ``[B, K]`` float 0/1 targets."""
    label_ids = torch.as_tensor(label_ids).long()
    if label_ids.dim() == 1:
        label_ids = label_ids[:, None]
    valid = label_ids >= 0
    out = torch.zeros(len(label_ids), num_labels, device=label_ids.device)
    return out.scatter_add(1, label_ids.clamp(min=0), valid.float()).clamp(max=1.0)


def loss_context(config: Any, batch: Mapping[str, Any], device: torch.device) -> LossContext:
    """The checked targets of a batch for ``config.task`` (a ``ValueError`` names a bad one)."""
    k = config.num_labels
    is_oos = batch.get("is_oos")
    if is_oos is not None:
        is_oos = torch.as_tensor(is_oos, device=device).bool()
    labels = batch.get("label_id")
    if config.task == "multi_label":
        if batch.get("label_ids") is None:
            raise ValueError("a multi_label model needs label_ids [batch, labels] in the batch")
        ids = torch.as_tensor(batch["label_ids"], device=device).long()
        ids = ids[:, None] if ids.dim() == 1 else ids
        bad = ids[ids >= k]  # negative ids are padding
        if bad.numel():
            raise ValueError(f"label_ids outside [0, {k}): {sorted(set(bad.tolist()))}")
        in_range = torch.ones(len(ids), dtype=torch.bool, device=device)
        if is_oos is not None:
            in_range &= ~is_oos
        labels = ids[:, 0] if labels is None else torch.as_tensor(labels, device=device).long()
        return LossContext(labels, in_range, is_oos, "multi_label", targets=multi_hot(ids, k))
    if config.task == "regression":
        if batch.get("score") is None:
            raise ValueError("a regression model needs score [batch] in the batch")
        scores = torch.as_tensor(batch["score"], device=device).float().reshape(-1)
        in_range = torch.isfinite(scores)
        if is_oos is not None:
            in_range &= ~is_oos
        labels = torch.zeros(len(scores), dtype=torch.long, device=device)
        return LossContext(labels, in_range, is_oos, "regression", scores=scores)
    labels = torch.as_tensor(labels, device=device).long()
    in_range = (labels >= 0) & (labels < k)
    ignored = labels == IGNORE_INDEX
    if is_oos is not None:  # OOS without its own class (in-scope-only training) is skipped
        ignored |= is_oos & ~in_range
    if bool((~in_range & ~ignored).any()):
        bad = labels[~in_range & ~ignored].tolist()
        raise ValueError(f"label_id outside [0, {k}) for in-scope samples: {bad}")
    return LossContext(labels, in_range, is_oos)


def _masked(values: Tensor, keep: Tensor) -> Tensor:
    """Per-sample ``values`` with NaN where ``keep`` is False (samples that take no part)."""
    return values.masked_fill(~keep, float("nan"))


def _cross_entropy(logits: Tensor, context: LossContext) -> Tensor:
    terms = torch.full((len(context.labels),), float("nan"), device=logits.device)
    if bool(context.in_range.any()):
        picked = nn.functional.cross_entropy(
            logits[context.in_range].float(), context.labels[context.in_range], reduction="none"
        )
        terms = terms.masked_scatter(context.in_range, picked)
    return terms


def _binary_cross_entropy(logits: Tensor, context: LossContext) -> Tensor:
    terms = nn.functional.binary_cross_entropy_with_logits(
        logits.float(), context.targets.to(logits.device), reduction="none"
    ).mean(dim=1)
    return _masked(terms, context.in_range)


def main_loss(config: Any, logits: Tensor, context: LossContext) -> tuple[str, Tensor]:
    """``(term name, per-sample loss [B])`` of the task head; NaN where a sample takes no part."""
    if config.task == "multi_label":
        return "bce", _binary_cross_entropy(logits, context)
    if config.task == "regression":
        error = logits[:, 0].float() - context.scores.nan_to_num(0.0)
        value = error.abs() if config.regression_loss == "mae" else error.pow(2)
        return config.regression_loss, _masked(value, context.in_range)
    return "ce", _cross_entropy(logits, context)


def label_attention_loss(config: Any, label_logits: Tensor, context: LossContext) -> Tensor:
    """LE-MER's auxiliary loss (seed 001, eq. 3): CE for one label, BCE per label for several."""
    if config.task == "multi_label":
        return _binary_cross_entropy(label_logits, context)
    return _cross_entropy(label_logits, context)


def description_targets(context: LossContext) -> Tensor:
    """What the triplet loss reads as a sample's labels: ids ``[B]``, or multi-hot ``[B, K]``."""
    if context.task == "multi_label":
        return context.targets.bool()
    return context.labels
