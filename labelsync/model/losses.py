"""Triplet description-contrastive loss (seed 003, eq. 15) and the description matrix it reads.

Eq. 15 as printed::

    L = -1/N sum_l log( sum_j exp(sim(T_f_l, S_j^+)/tau)
                        / sum_{k != i} sum_j exp(sim(T_f_l, S_j^k)/tau) )

Our reading, for a sample l with label y_l:

- numerator: the descriptions of y_l (the positives S^+), summed — not averaged;
- denominator: ``k`` runs over the *labels* other than y_l ("k != i" names the sample's own label;
  the upper bound N is a typo for the number of labels), ``j`` over each such label's descriptions
  (the negatives S^k); positives are **not** in the denominator as printed. Because the cosine is
  bounded the loss is bounded too (it may be negative). ``include_positives=True`` gives the
  InfoNCE variant (denominator = positives + negatives, loss >= 0);
- ``sim`` is the cosine similarity, ``tau`` the temperature (0.7);
- labels may have different numbers of descriptions (3 in the paper): the sums run over the real
  ones (``mask``);
- several labels (multi-label, ``label_ids`` a ``[B, K]`` multi-hot): the positives are the
  descriptions of *all* the sample's labels (one term per sample, their sum in the numerator) and
  the negatives those of every label it does not carry; a sample without labels, or carrying
  every described label, has no positive or no negative and takes no part;
- N counts the samples that take part: out-of-scope samples (``is_oos``), labels outside
  ``[0, n_labels)``, labels without descriptions, and samples with no negative (a single described
  label) are left out. When none takes part the loss is ``0`` and still part of the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .carat_losses import CARAT_TERMS
from .congruity import congruity_term
from .contrastive import lgcl_term
from .hycon_losses import HYCON_TERMS
from .lemer import constraint_term, frames_term

__all__ = [
    "TripletDescriptionLoss",
    "triplet_description_loss",
    "pack_description_embeddings",
    "LossContext",
    "LOSS_TERMS",
    "register_loss",
]

log = logging.getLogger(__name__)


def triplet_description_loss(
    embeddings: Tensor,
    label_ids: Tensor,
    descriptions: Tensor,
    description_mask: Tensor | None = None,
    is_oos: Tensor | None = None,
    *,
    tau: float = 0.7,
    include_positives: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Eq. 15 (see the module docstring): ``embeddings [B, D]`` vs ``descriptions [K, n, D]``.

    ``label_ids``: ``[B]`` class ids, or a ``[B, K]`` multi-hot for multi-label samples.

    ``reduction="none"`` gives the per-sample terms ``[B]`` (NaN for samples that do not take
    part), e.g. to average evaluation losses over a whole split exactly.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if descriptions.dim() != 3:
        raise ValueError(
            f"descriptions must be [n_labels, n_desc, dim], got {tuple(descriptions.shape)}"
        )
    if embeddings.dim() != 2 or embeddings.shape[-1] != descriptions.shape[-1]:
        raise ValueError(
            f"embeddings {tuple(embeddings.shape)} do not match "
            f"descriptions {tuple(descriptions.shape)}"
        )
    n_labels, n_desc, _ = descriptions.shape
    if description_mask is None:
        description_mask = torch.ones(
            n_labels, n_desc, dtype=torch.bool, device=descriptions.device
        )
    description_mask = description_mask.bool()
    if label_ids.dim() == 2:  # multi-label: [B, K] multi-hot, every label of a sample positive
        if label_ids.shape[1] != n_labels:
            raise ValueError(f"multi-hot labels {tuple(label_ids.shape)} for {n_labels} labels")
        own = label_ids.bool()
        keep = own.any(dim=1)
    else:
        label_ids = label_ids.long()
        keep = (label_ids >= 0) & (label_ids < n_labels)
        own = nn.functional.one_hot(label_ids.clamp(0, n_labels - 1), n_labels).bool()  # [B, K]
    if is_oos is not None:
        keep &= ~is_oos.bool()
    positive = own[:, :, None] & description_mask[None]  # [B, K, n]
    negative = ~own[:, :, None] & description_mask[None]
    keep &= positive.flatten(1).any(dim=1) & negative.flatten(1).any(dim=1)
    if not bool(keep.any()):
        zero = embeddings.sum() * 0.0  # nobody qualifies: zero, graph intact
        return zero if reduction == "mean" else torch.full_like(embeddings[:, 0], float("nan"))
    emb = nn.functional.normalize(embeddings[keep], dim=-1)
    desc = nn.functional.normalize(descriptions, dim=-1)
    logits = torch.einsum("bd,knd->bkn", emb, desc).flatten(1) / tau  # [N, K*n]
    positive, negative = positive[keep].flatten(1), negative[keep].flatten(1)
    low = torch.finfo(logits.dtype).min
    log_num = logits.masked_fill(~positive, low).logsumexp(dim=1)
    den_mask = (positive | negative) if include_positives else negative
    log_den = logits.masked_fill(~den_mask, low).logsumexp(dim=1)
    terms = log_den - log_num
    if reduction == "mean":
        return terms.mean()
    nan = torch.full((len(embeddings),), float("nan"), dtype=terms.dtype, device=terms.device)
    return nan.masked_scatter(keep, terms)


class TripletDescriptionLoss(nn.Module):
    """Module form of ``triplet_description_loss`` holding tau and the denominator variant."""

    def __init__(self, tau: float = 0.7, include_positives: bool = False):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = tau
        self.include_positives = include_positives

    def forward(
        self,
        embeddings: Tensor,
        label_ids: Tensor,
        descriptions: Tensor,
        description_mask: Tensor | None = None,
        is_oos: Tensor | None = None,
        reduction: str = "mean",
    ) -> Tensor:
        """Scalar loss over the samples that qualify (see the module docstring)."""
        return triplet_description_loss(
            embeddings,
            label_ids,
            descriptions,
            description_mask,
            is_oos,
            tau=self.tau,
            include_positives=self.include_positives,
            reduction=reduction,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """The settings that define this loss (as sentence-transformers losses report them)."""
        return {"tau": self.tau, "include_positives": self.include_positives}


def pack_description_embeddings(
    label_names: Sequence[str],
    embeddings: Mapping[str, Any],
    *,
    max_descriptions: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Stack per-label description embeddings into ``([K, n, D] float32, [K, n] bool mask)``.

    ``embeddings`` maps a label name to an array-like ``[n_i, D]`` (``n_i`` may differ, may be 0);
    names are matched by their normalised key, and rows follow ``label_names`` (the model's id
    order). A label missing from ``embeddings`` gets no descriptions (all-False mask row).
    """
    from ..labels import normalize_label

    by_key = {normalize_label(name): value for name, value in embeddings.items()}
    rows = []
    for name in label_names:
        value = by_key.get(normalize_label(name))
        rows.append(None if value is None else torch.as_tensor(value, dtype=torch.float32))
    dims = {row.shape[-1] for row in rows if row is not None and row.numel()}
    if len(dims) != 1:
        raise ValueError(
            f"description embeddings need one common width, got {sorted(dims) or 'none'}"
        )
    dim = dims.pop()
    width = max((len(row) for row in rows if row is not None), default=0)
    width = max(width, max_descriptions or 0, 1)
    matrix = torch.zeros(len(label_names), width, dim)
    mask = torch.zeros(len(label_names), width, dtype=torch.bool)
    for i, row in enumerate(rows):
        if row is None or not row.numel():
            continue
        row = row.reshape(-1, dim)
        matrix[i, : len(row)] = row
        mask[i, : len(row)] = True
    missing = [name for name, m in zip(label_names, mask, strict=True) if not bool(m.any())]
    if missing:
        log.info("no descriptions for %d label(s): %s", len(missing), ", ".join(missing[:5]))
    return matrix, mask


@dataclass(frozen=True)
class LossContext:
    """What every loss term may read besides the model and its output (``tasks.loss_context``).

    ``in_range`` marks the samples with a usable target: single-label, an in-scope class;
    multi-label, every sample that is not out of scope; regression, a finite score.
    """

    labels: Tensor  # [B] long: the class (multi-label: first label or -1; regression: 0)
    in_range: Tensor  # [B] bool: the sample has a target this model learns
    is_oos: Tensor | None  # [B] bool, when the batch says
    task: str = "single_label"  # ModelConfig.task
    targets: Tensor | None = None  # multi_label: [B, K] float multi-hot of each sample's labels
    scores: Tensor | None = None  # regression: [B] float gold scores


# name -> fn(model, output, context) -> per-sample term [B] (NaN where a sample takes no part);
# ``ModelConfig.losses`` names the terms a model adds to its loss, with their weights.
LossFn = Callable[[Any, Any, LossContext], Tensor]
LOSS_TERMS: dict[str, LossFn] = {}


def register_loss(name: str, fn: LossFn) -> None:
    """Make ``name`` usable in ``ModelConfig.losses`` (e.g. ``{"lgcl": 0.1}``)."""
    LOSS_TERMS[name] = fn


# the terms that ship with labelsync; each lives in its own module with its equations
register_loss("scc", congruity_term)  # MVCN Sentiment-based Congruity Constraint, seed 001 eqs. 3-5
register_loss("lemer_frames", frames_term)  # LE-MER L_g^s, seed 001 eq. 6 (mu_4 of eq. 12)
register_loss("lemer_constraint", constraint_term)  # LE-MER L_c, seed 001 eq. 10 (mu_2)
register_loss("lgcl", lgcl_term)  # G2SAM label-aware contrastive loss, seed 001 eq. 7 (gamma)
for _name, _fn in {**CARAT_TERMS, **HYCON_TERMS}.items():  # seed 000 CARAT, seed 002 HyCon
    register_loss(_name, _fn)
