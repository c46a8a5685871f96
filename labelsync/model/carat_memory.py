"""CARAT's contrastive memory (seed 000, "Contrastive Representation Learning", eqs. 6-10).

- Classes: every latent embedding ``e`` (one per sample, modality m, label j and level o/alpha/
  beta) gets the class ``l^m_{j,k}``: its modality, its label and the label's polarity k in the
  sample (pos/neg). Flat id ``(m * C + j) * 2 + k``, k = 1 for pos.
- Queue: the most recent ``queue_size`` embeddings with their classes, first in first out;
  buffers, so they are saved with the model (``queue``, ``queue_class`` (-1 = empty slot),
  ``queue_ptr``: the next slot to write).
- Prototypes ``mu^m_{j,k}`` (eq. 8): a buffer ``[M, C, 2, d_z]``, zeros until a class is first
  seen. After a batch every class present moves once:
  ``mu <- Normalize(phi * mu + (1 - phi) * mean(e of that class))`` — eq. 8 applied to the batch
  mean instead of one embedding at a time (one update per class per step).
- Intrinsic vectors ``d^m_j`` (eqs. 9, 10): the sample's own ``e = Z_o^m[j]`` weighs the two
  prototypes of label j: soft-max while training, hard-max (the closer prototype) at prediction.
- ``supervised_contrastive`` is eq. 6 (SupCon, Khosla et al. 2020) for every anchor.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["CaratMemory", "supervised_contrastive", "latent_classes"]


def latent_classes(targets: Tensor, modalities: int, levels: int) -> Tensor:
    """Class ids ``[B, M, L, C]`` of the latent embeddings from multi-hot ``targets [B, C]``."""
    b, c = targets.shape
    m = torch.arange(modalities, device=targets.device)[None, :, None, None]
    j = torch.arange(c, device=targets.device)[None, None, None, :]
    k = targets.long()[:, None, None, :]
    return ((m * c + j) * 2 + k).expand(b, modalities, levels, c)


def supervised_contrastive(
    anchors: Tensor, anchor_class: Tensor, pool: Tensor, pool_class: Tensor, temperature: float
) -> Tensor:
    """Eq. 6 per anchor ``[N]``; ``pool`` starts with the N anchors themselves (skipped as their
    own contrast). NaN for an anchor without a positive in the pool."""
    n = len(anchors)
    logits = anchors @ pool.T / temperature  # [N, P]
    own = torch.zeros_like(logits, dtype=torch.bool)
    own[:, :n] = torch.eye(n, dtype=torch.bool, device=anchors.device)
    logits = logits.masked_fill(own, float("-inf"))  # E(e) = E \ {e}
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positive = (anchor_class[:, None] == pool_class[None, :]) & ~own
    count = positive.sum(dim=1)
    summed = log_prob.masked_fill(~positive, 0.0).sum(dim=1)
    loss = -summed / count.clamp_min(1)
    return loss.masked_fill(count == 0, float("nan"))


class CaratMemory(nn.Module):
    """The queue and the momentum prototypes (see the module docstring)."""

    def __init__(self, modalities: int, labels: int, latent: int, queue_size: int, momentum: float):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("prototypes", torch.zeros(modalities, labels, 2, latent))
        self.register_buffer("queue", torch.zeros(queue_size, latent))
        self.register_buffer("queue_class", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def intrinsic(self, latent: Tensor, hard: bool) -> Tensor:
        """``D^m`` for ``latent [B, M, C, d_z]`` (normalised ``Z_o``): eq. 9, or eq. 10 if hard."""
        protos = self.prototypes.detach().clone().to(latent.dtype)  # updated in place later
        scores = torch.einsum("bmcd,mckd->bmck", latent, protos)  # e^T mu_{j,k}, k = neg, pos
        if hard:  # eq. 10: pos when alpha_pos > alpha_neg, else neg
            weights = nn.functional.one_hot((scores[..., 1] > scores[..., 0]).long(), 2)
            weights = weights.to(latent.dtype)
        else:
            weights = scores.softmax(dim=-1)
        return torch.einsum("bmck,mckd->bmcd", weights, protos)

    def contents(self) -> tuple[Tensor, Tensor]:
        """The filled queue slots: embeddings ``[Q', d_z]`` and classes ``[Q']`` (copies)."""
        filled = self.queue_class >= 0
        return self.queue[filled].clone(), self.queue_class[filled].clone()

    @torch.no_grad()
    def enqueue(self, latent: Tensor, classes: Tensor) -> None:
        """Write ``latent [N, d_z]`` (classes ``[N]``) after the newest entries, wrapping round;
        with N >= the queue size only the last ``queue_size`` are kept."""
        size = len(self.queue)
        latent, classes = latent[-size:], classes[-size:]
        n = len(latent)
        slots = (int(self.queue_ptr) + torch.arange(n, device=latent.device)) % size
        self.queue[slots] = latent.to(self.queue.dtype)
        self.queue_class[slots] = classes
        self.queue_ptr.fill_((int(self.queue_ptr) + n) % size)

    @torch.no_grad()
    def update_prototypes(self, latent: Tensor, classes: Tensor) -> None:
        """Eq. 8 once per class present: ``Normalize(phi mu + (1 - phi) mean(e))``."""
        flat = self.prototypes.view(-1, self.prototypes.shape[-1])
        sums = torch.zeros_like(flat).index_add_(0, classes, latent.to(flat.dtype))
        counts = torch.zeros(len(flat), device=flat.device).index_add_(
            0, classes, torch.ones(len(classes), device=flat.device)
        )
        seen = counts > 0
        mean = sums[seen] / counts[seen, None]
        moved = self.momentum * flat[seen] + (1.0 - self.momentum) * mean
        flat[seen] = nn.functional.normalize(moved, dim=-1)
