"""Pieces the fusion modules share: what a fusion may return, token alignment, attention blocks.

- ``FusionOutput``: a fusion returns its new hidden states, or this pair of hidden states and
  ``aux`` (tensors a registered loss term reads from ``ModelOutput.aux``, by name).
- ``align_to_tokens``: video/audio frames brought to the text's token positions (MAG-BERT needs
  one non-verbal vector per token).
- ``PreNormBlock`` (MulT's crossmodal/self-attention layer) and ``FeedForwardBlock`` (post-norm,
  as BERT's own layers, for fusions that continue the text encoder).

Every block reads only real positions of its keys (``key_padding_mask``), so padding appended to
a batch never changes the result at real positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .ame import align_sequence

__all__ = [
    "FusionOutput",
    "align_to_tokens",
    "attendable",
    "sinusoidal_positions",
    "PreNormBlock",
    "FeedForwardBlock",
]


@dataclass
class FusionOutput:
    """A fusion's result when it has more to say than the hidden states."""

    hidden: Tensor  # [B, l_t, d]
    aux: dict[str, Any] = field(default_factory=dict)  # lands in ``ModelOutput.aux``


def align_to_tokens(
    features: Tensor, mask: Tensor, text_mask: Tensor, logits: Tensor | None = None
) -> Tensor:
    """``features [B, L, D]`` -> ``[B, l_t, D]``: one vector per text position.

    Without ``logits``: each sample's valid frames are split into as many contiguous bins as it
    has real tokens (uniform time alignment: token j reads the j-th share of the clip); padded
    token positions get zeros. With ``logits [B, L, >= l_t]``: a learned soft alignment, token j
    = softmax over the valid frames of ``logits[:, :, j]`` (``ame.align_sequence``). Either way a
    token's vector depends only on its own sample's real frames and its position.
    """
    length = text_mask.shape[1]
    if logits is not None:
        if logits.shape[-1] < length:
            raise ValueError(
                f"text of {length} tokens is longer than the aligner's {logits.shape[-1]}"
            )
        return align_sequence(features, mask, logits.shape[-1], logits)[:, :length]
    valid = mask.bool()
    tokens = text_mask.bool()
    frames = valid.sum(dim=1, keepdim=True).to(features.dtype)[:, :, None]  # [B, 1, 1]
    n_tok = tokens.sum(dim=1, keepdim=True).to(features.dtype)[:, :, None].clamp_min(1.0)
    steps = torch.arange(length, device=features.device, dtype=features.dtype)[None, :, None]
    rank = (valid.cumsum(dim=1) - 1).to(features.dtype)[:, None, :]  # index among valid frames
    start = torch.floor(steps * frames / n_tok)  # [B, l_t, 1]
    end = torch.maximum(torch.ceil((steps + 1) * frames / n_tok), start + 1)
    inside = (rank >= start) & (rank < end) & valid[:, None, :] & tokens[:, :, None]
    weights = inside.to(features.dtype)
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1.0)
    return weights @ features


def attendable(mask: Tensor) -> Tensor:
    """``mask [B, S]`` with position 0 made real for samples that have no real position.

    Attention over keys that are all masked gives NaN; a sample without frames instead attends
    to its first (zero-padded) slot.
    """
    mask = mask.bool()
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        mask = mask.clone()
        mask[empty, 0] = True
    return mask


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """``[length, dim]`` sine/cosine position codes (Vaswani et al. 2017), as MulT adds them."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return codes


class PreNormBlock(nn.Module):
    """``x + MHA(LN(x), LN(kv))`` then ``x + FFN(LN(x))``: one layer of a MulT transformer.

    ``cross=False`` builds a self-attention layer (``kv`` is then always None).
    """

    def __init__(
        self, dim: int, num_heads: int, attn_dropout: float, dropout: float, cross: bool = True
    ):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=attn_dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, kv: Tensor | None = None, kv_mask: Tensor | None = None) -> Tensor:
        """``x [B, T, d]`` attends to ``kv [B, S, d]`` (``kv_mask`` True = real key)."""
        query = self.norm_q(x)
        if (kv is None) != (self.norm_kv is None):
            raise ValueError("a cross-attention layer needs kv, a self-attention layer takes none")
        keys = query if self.norm_kv is None else self.norm_kv(kv)
        pad = None if kv_mask is None else ~kv_mask.bool()
        out, _ = self.attn(query, keys, keys, key_padding_mask=pad, need_weights=False)
        x = x + self.dropout(out)
        return x + self.dropout(self.ff(self.norm_ff(x)))


class FeedForwardBlock(nn.Module):
    """Post-norm feed-forward, ``LayerNorm(x + Dropout(W2 GELU(W1 x)))``, as in BERT's layers."""

    def __init__(self, dim: int, mult: int, dropout: float):
        super().__init__()
        self.ff = nn.Sequential(
            nn.Linear(dim, mult * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mult * dim, dim)
        )
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, d]`` -> ``[B, T, d]``."""
        return self.norm(x + self.dropout(self.ff(x)))
