"""A Transformer over one feature sequence (video or audio frames), as CARAT and HyCon use it.

``SequenceEncoder``: ``Linear(D_m -> d)`` + sine/cosine positions + ``layers`` post-norm
Transformer encoder layers (residual around each sub-layer, then LayerNorm: the block CARAT
describes, Vaswani et al. 2017). Padded frames are never attended to, so padding appended to a
batch never changes the states at real positions; a sample without any real frame attends to its
first (zero) slot instead of producing NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import attendable, sinusoidal_positions

__all__ = ["SequenceEncoder", "last_valid"]


def last_valid(states: Tensor, mask: Tensor) -> Tensor:
    """The state at each sample's last real position: ``[B, L, d]`` -> ``[B, d]``."""
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = (positions * mask.bool()).argmax(dim=1)  # 0 when a sample has no real position
    return states[torch.arange(len(states), device=states.device), last]


class SequenceEncoder(nn.Module):
    """``[B, L, D_m]`` frames -> ``[B, L, d]`` states (see the module docstring)."""

    def __init__(self, in_dim: int, dim: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, 4 * dim, dropout, activation="relu", batch_first=True
            )
            for _ in range(layers)
        )

    def forward(self, frames: Tensor, mask: Tensor) -> Tensor:
        """``mask [B, L]`` True = real frame."""
        x = self.proj(frames)
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype))
        pad = ~attendable(mask)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return x
