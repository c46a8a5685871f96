"""The Sentiment-based Congruity Constraint of MVCN (seed 001, eqs. 3-5), the ``scc`` loss term.

As printed, for a batch of B samples with representations ``Q_j`` and labels ``Y(j)``:

    C_c = sum_j 1[Y(j) = c] Q_j / sum_j 1[Y(j) = c]          (3) per-class batch centres
    d_i = ||Q_i - C_Y(i)||_2^2 / sqrt(t)                       (4)
    L   = -sum_i log( exp(-d_i) / sum_i exp(-d_i) )            (5)

Our reading:
- ``Q`` is the classifier's view of the fused sequence, ``pool(E_f)`` (``ModelOutput.pooled``),
  L2-normalised (the hat of ``Q``), so distances are in [0, 4] whatever the encoder.
- Eq. 5 read literally normalises each sample's own distance over the *samples*; its gradient
  then sums to zero over the batch (it makes the distances equal, not small). We normalise over
  the *class centres* instead: ``d_ic = ||Q_i - C_c||^2 / sqrt(t)`` for every class c present
  in the batch and ``L_i = -log softmax_c(-d_ic)[Y(i)]``: a sample is pulled to its own centre
  and pushed from the others (the "relative L2" the slides compare with an absolute one).
- ``sqrt(t)`` is ``scc_temperature`` (0.1 by default; the slides do not give t).
- The sum of eq. 5 becomes a mean over the samples taking part (the weight absorbs the scale).
  Out-of-scope samples and labels outside the model's classes take no part; with fewer than two
  classes in the batch there is nothing to contrast and no sample takes part.
The centres are batch statistics, so this term depends on how a split is batched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["congruity_loss", "congruity_term"]


def congruity_loss(
    embeddings: Tensor, labels: Tensor, keep: Tensor, *, temperature: float = 0.1
) -> Tensor:
    """Per-sample SCC terms ``[B]`` (NaN where a sample takes no part); see the module docstring."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    terms = torch.full((len(labels),), float("nan"), device=embeddings.device)
    keep = keep.bool()
    classes, own = torch.unique(labels[keep], return_inverse=True)
    if len(classes) < 2:
        return terms
    q = nn.functional.normalize(embeddings[keep].float(), dim=-1)  # [N, D]
    members = nn.functional.one_hot(own, len(classes)).to(q.dtype)  # [N, C]
    centres = (members.T @ q) / members.sum(dim=0)[:, None]  # eq. 3: [C, D]
    distances = (q[:, None, :] - centres[None]).pow(2).sum(-1) / temperature  # eq. 4: [N, C]
    picked = nn.functional.cross_entropy(-distances, own, reduction="none")  # eq. 5 (centres)
    return terms.masked_scatter(keep, picked)


def congruity_term(model: Any, out: Any, context: Any) -> Tensor:
    """The ``scc`` loss term (``losses.LOSS_TERMS``): ``congruity_loss`` on ``out.pooled``."""
    keep = context.in_range
    if context.is_oos is not None:
        keep = keep & ~context.is_oos.bool()
    return congruity_loss(
        out.pooled, context.labels, keep, temperature=model.config.scc_temperature
    )
