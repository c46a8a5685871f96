"""MulT: crossmodal transformers per modality pair, then self-attention and pooling (Tsai et al.,
ACL 2019), as the MIntRec/MIntRec2.0 baselines run it on top of the text encoder.

Stage ``"output"``: it reads ``E_f`` (the text encoder's last hidden states) and the raw
video/audio frames:

1. Temporal 1-D convolutions project every modality to ``mult_dim`` (kernel 5 for the text,
   1 for video and audio, no bias, as in MIntRec); positions are scaled by ``sqrt(mult_dim)``
   and get sinusoidal position codes, then embedding dropout. The text also gets the MIntRec
   "text dropout" first.
2. For every target modality and every other (source) modality, a crossmodal transformer of
   ``mult_layers`` pre-norm layers in which the target attends to the source (source -> target).
3. Per target, its crossmodal outputs are concatenated (``(n - 1) * mult_dim``) and a
   self-attention transformer ("memory", ``max(mult_layers, 3)`` layers) runs over them.
4. Pooling: the text stream stays a sequence; each non-text stream is mean-pooled over its real
   frames and broadcast to every token. The concatenation passes MulT's residual output block
   (``x + W2 Dropout(ReLU(W1 x))``) and a linear map back to the encoder width, giving the
   ``[B, l_t, d]`` that the classifier pools.

Deviations: MulT reads the last time step of each stream under a causal ("future") attention
mask; with batches zero-padded at the end that step is padding, so we mask padded keys and pool
over real positions instead (padding-invariant). Attention dropout is ``mult_attn_dropout`` for
streams into video/audio and 0 for streams into the text, the ReLU and residual dropouts 0, as
in the MIntRec configuration. With text only (no video/audio) no MulT is built at all: the text
encoder alone runs (``fusion.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .blocks import PreNormBlock, attendable, sinusoidal_positions
from .heads import masked_mean

__all__ = ["MultimodalTransformer", "CrossmodalTransformer"]

TEXT = "text"
_KERNELS = {TEXT: 5}  # MIntRec: conv1d_kernel_size_l 5, _v / _a 1


class CrossmodalTransformer(nn.Module):
    """A stack of ``PreNormBlock``s (target attends to source; self-attention without one)."""

    def __init__(
        self, dim: int, num_heads: int, layers: int, attn_dropout: float, cross: bool = True
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            [PreNormBlock(dim, num_heads, attn_dropout, 0.0, cross) for _ in range(layers)]
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        target: Tensor,
        target_mask: Tensor,
        source: Tensor | None = None,
        source_mask: Tensor | None = None,
    ) -> Tensor:
        """``target [B, T, d]`` (+ ``source [B, S, d]``) -> ``[B, T, d]``."""
        x = target
        for layer in self.layers:
            if source is None:
                x = layer(x, None, target_mask)
            else:
                x = layer(x, source, source_mask)
        return self.norm(x)


class MultimodalTransformer(nn.Module):
    """MulT over ``E_f`` and the non-verbal frames: ``-> [B, l_t, d]`` (module docstring)."""

    def __init__(
        self,
        dim: int,
        modality_dims: dict[str, int],
        *,
        width: int = 120,
        num_heads: int = 8,
        layers: int = 8,
        attn_dropout: float = 0.2,
        embed_dropout: float = 0.1,
        out_dropout: float = 0.2,
        text_dropout: float = 0.4,
    ):
        super().__init__()
        if not modality_dims:
            raise ValueError("MultimodalTransformer needs at least one of video/audio")
        if width % num_heads:
            raise ValueError(f"mult_heads={num_heads} does not divide mult_dim={width}")
        self.width = width
        inputs = {TEXT: dim, **modality_dims}
        self.names = tuple(inputs)
        self.project = nn.ModuleDict(
            {
                name: nn.Conv1d(size, width, _KERNELS.get(name, 1), padding="same", bias=False)
                for name, size in inputs.items()
            }
        )
        self.crossmodal = nn.ModuleDict(
            {
                f"{source}_to_{target}": CrossmodalTransformer(
                    width, num_heads, layers, 0.0 if target == TEXT else attn_dropout
                )
                for target in self.names
                for source in self.names
                if source != target
            }
        )
        memory = (len(self.names) - 1) * width
        self.memory = nn.ModuleDict(
            {
                name: CrossmodalTransformer(
                    memory,
                    num_heads,
                    max(layers, 3),
                    0.0 if name == TEXT else attn_dropout,
                    cross=False,
                )
                for name in self.names
            }
        )
        combined = len(self.names) * memory
        self.text_dropout = nn.Dropout(text_dropout)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.proj1 = nn.Linear(combined, combined)
        self.proj2 = nn.Linear(combined, combined)
        self.out_dropout = nn.Dropout(out_dropout)
        self.out = nn.Linear(combined, dim)

    def _embed(self, name: str, x: Tensor, mask: Tensor) -> Tensor:
        """Conv projection of the real positions (padding zeroed first) + scaled position codes."""
        x = x * mask[..., None].to(x.dtype)
        x = self.project[name](x.transpose(1, 2)).transpose(1, 2)  # [B, L, width]
        x = math.sqrt(self.width) * x + sinusoidal_positions(x.shape[1], self.width, x.device)
        return self.embed_dropout(x)

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> Tensor:
        """``E_f [B, l_t, d]`` + frames -> ``[B, l_t, d]``."""
        masks = {TEXT: text_mask.bool(), **{k: attendable(v) for k, v in masks.items()}}
        inputs = {TEXT: self.text_dropout(hidden), **features}
        seqs = {name: self._embed(name, inputs[name], masks[name]) for name in self.names}
        streams = {}
        for target in self.names:
            parts = [
                self.crossmodal[f"{source}_to_{target}"](
                    seqs[target], masks[target], seqs[source], masks[source]
                )
                for source in self.names
                if source != target
            ]
            streams[target] = self.memory[target](torch.cat(parts, dim=-1), masks[target])
        length = hidden.shape[1]
        columns = [streams[TEXT]]
        for name in self.names[1:]:  # non-text streams: pooled over their real frames
            pooled = masked_mean(streams[name], masks[name])
            columns.append(pooled[:, None, :].expand(-1, length, -1))
        combined = torch.cat(columns, dim=-1)
        combined = combined + self.proj2(self.out_dropout(torch.relu(self.proj1(combined))))
        return self.out(combined)
