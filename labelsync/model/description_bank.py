"""The label-description embeddings a model keeps (buffers saved with its weights, so a loaded
model needs no label store), set by matrix or by label name, and ``T_f``'s cosine to them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .losses import pack_description_embeddings

__all__ = ["DescriptionBank"]

log = logging.getLogger(__name__)


class DescriptionBank:
    """Mixin for a model with ``config`` (label names, desc_dim, max_descriptions) and the
    buffers ``descriptions [K, n, D]`` / ``description_mask [K, n]`` it registers."""

    config: Any

    def register_descriptions(self) -> None:
        """Register empty buffers sized by the config (call in ``__init__``)."""
        shape = (self.config.num_labels, self.config.max_descriptions)
        self.register_buffer("descriptions", torch.zeros(*shape, self.config.desc_dim))
        self.register_buffer("description_mask", torch.zeros(*shape, dtype=torch.bool))

    @property
    def has_descriptions(self) -> bool:
        """Whether ``set_descriptions`` gave at least one label a description."""
        mask = getattr(self, "description_mask", None)
        return mask is not None and bool(mask.any())

    def set_descriptions(
        self, matrix: Tensor | Mapping[str, Any], mask: Tensor | None = None
    ) -> None:
        """Store description embeddings: ``[K, n, D]`` + ``[K, n]`` mask, or name -> ``[n_i, D]``.

        Rows follow ``config.label_names``; a mapping is packed by label name
        (``pack_description_embeddings``). The buffer grows when ``n > config.max_descriptions``.
        """
        if not self.config.needs_descriptions:
            raise ValueError("this model uses no descriptions (use_ss and use_label_attention off)")
        if isinstance(matrix, Mapping):
            matrix, mask = pack_description_embeddings(self.config.label_names, matrix)
        matrix = torch.as_tensor(matrix, dtype=torch.float32)
        expected = (self.config.num_labels, self.config.desc_dim)
        if matrix.dim() != 3 or (matrix.shape[0], matrix.shape[2]) != expected:
            raise ValueError(
                f"descriptions must be [{expected[0]}, n, {expected[1]}], got {tuple(matrix.shape)}"
            )
        mask = (
            torch.ones(matrix.shape[:2], dtype=torch.bool)
            if mask is None
            else torch.as_tensor(mask)
        )
        if tuple(mask.shape) != tuple(matrix.shape[:2]):
            raise ValueError(
                f"description mask {tuple(mask.shape)} does not match {tuple(matrix.shape[:2])}"
            )
        n = max(matrix.shape[1], self.config.max_descriptions)
        device = self.descriptions.device
        padded = torch.zeros(expected[0], n, expected[1], device=device)
        padded_mask = torch.zeros(expected[0], n, dtype=torch.bool, device=device)
        padded[:, : matrix.shape[1]] = matrix.to(device)
        padded_mask[:, : matrix.shape[1]] = mask.to(device).bool()
        self.config.max_descriptions = n
        self.descriptions = padded  # buffers: assignment keeps them registered
        self.description_mask = padded_mask
        missing = [
            name
            for name, m in zip(self.config.label_names, padded_mask, strict=True)
            if not m.any()
        ]
        if missing:
            log.warning(
                "%d label(s) have no descriptions: %s", len(missing), ", ".join(missing[:5])
            )

    def description_scores(self, semantic_token: Tensor) -> Tensor:
        """Cosine of ``T_f`` to each label's nearest description, ``[B, K]`` (-inf: none)."""
        sim = torch.einsum(
            "bd,knd->bkn",
            nn.functional.normalize(semantic_token, dim=-1),
            nn.functional.normalize(self.descriptions, dim=-1),
        )
        return sim.masked_fill(~self.description_mask[None], float("-inf")).amax(dim=-1)

    def _require_descriptions(self) -> None:
        if not self.has_descriptions:
            raise RuntimeError(
                "no label descriptions: call model.set_descriptions(matrix, mask) first"
            )
