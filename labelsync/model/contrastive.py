"""Label-aware contrastive loss (G2SAM's LGCL, seed 001, eq. 7: ``L = L_ce + gamma L_LGCL``).

The slides name the loss ("constrains graph-based representations with the same labels to be
more similar in the semantic space") but print no formula. We use the supervised contrastive
form (Khosla et al., 2020) over the batch: for an anchor i with positives P(i) (the other
samples of its label) and candidates A(i) (every other sample),

    L_i = -1/|P(i)| sum_{p in P(i)} log( exp(c_ip / tau) / sum_{a in A(i)} exp(c_ia / tau) ),

c_ij = cos(z_i, z_j),

on the representation the kNN inference searches (the classifier input), so that training pulls
each class together where the kNN bank looks. A sample without a positive in the batch, or that
does not take part (out of scope, no in-range label), gets NaN; it still serves as a negative.
``lgcl_term`` is the registered loss term ``lgcl`` (weight gamma, temperature
``config.lgcl_tau``); like any in-batch contrast, it depends on how a split is batched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["label_contrastive_loss", "lgcl_term"]


def label_contrastive_loss(
    features: Tensor, labels: Tensor, taking_part: Tensor, tau: float = 0.1
) -> Tensor:
    """Per-sample LGCL ``[B]`` (NaN where a sample has no positive or takes no part)."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    z = nn.functional.normalize(features.float(), dim=-1)
    logits = z @ z.T / tau  # [B, B]
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    low = torch.finfo(logits.dtype).min
    log_prob = logits - logits.masked_fill(eye, low).logsumexp(dim=1, keepdim=True)
    same = (labels[:, None] == labels[None, :]) & taking_part[:, None] & taking_part[None, :]
    positive = same & ~eye
    counts = positive.sum(dim=1)
    terms = -(log_prob * positive).sum(dim=1) / counts.clamp_min(1)
    return terms.masked_fill(counts == 0, float("nan"))


def lgcl_term(model: Any, out: Any, context: Any) -> Tensor:
    """The ``lgcl`` loss term: ``label_contrastive_loss`` on the classifier input."""
    taking_part = context.in_range
    if context.is_oos is not None:
        taking_part = taking_part & ~context.is_oos.bool()
    return label_contrastive_loss(
        out.features, context.labels, taking_part, tau=model.config.lgcl_tau
    )
