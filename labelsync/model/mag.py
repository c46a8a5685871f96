"""MAG: the Multimodal Adaptation Gate of MAG-BERT (Rahman et al., ACL 2020), the official
MIntRec/MIntRec2.0 baseline.

Inside the text encoder, after the embeddings (``mag_layer: 0``) or after layer ``i``, every
token vector ``Z`` is shifted by a displacement computed from the video and audio frames
aligned to it:

    g_m = ReLU(W_gm [x_m ; Z] + b_gm)              gate per modality m (video, audio)
    H   = sum_m g_m * (W_m x_m + b_m)               non-verbal displacement
    a   = min(beta * ||Z||_2 / ||H||_2, 1)          the shift never outgrows the token
    Z'  = Dropout(LayerNorm(Z + a H))

``beta`` (``mag_beta``) and the dropout (``mag_dropout``) default to the authors' code (1.0,
0.5); the MIntRec configuration uses beta 0.005 (the ``mag-bert`` preset). MAG-BERT reads
word-aligned features; MIntRec aligns them with a learned (CTC) aligner. Here ``align_method``
picks ``"soft"`` (a learned softmax over the valid frames per token position) or ``"pool"``
(each sample's frames split uniformly over its tokens). ``mag_layernorm: false`` replaces the
last line by ``Z' = Z + Dropout(a H)``, so a zero displacement leaves the encoder exactly as it
was (the paper normalises).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import FusionOutput, align_to_tokens

__all__ = ["AdaptationGate"]


class AdaptationGate(nn.Module):
    """``(Z [B, l_t, d], {video, audio}) -> FusionOutput(Z', aux={"mag_alpha": a [B, l_t]})``."""

    def __init__(
        self,
        dim: int,
        modality_dims: dict[str, int],
        *,
        length: int,
        beta: float = 1.0,
        dropout: float = 0.5,
        layernorm: bool = True,
        align_method: str = "soft",
        eps: float = 1e-6,
    ):
        super().__init__()
        if not modality_dims:
            raise ValueError("AdaptationGate needs at least one of video/audio")
        self.beta = beta
        self.eps = eps
        self.align = (
            nn.ModuleDict({m: nn.Linear(d, length) for m, d in modality_dims.items()})
            if align_method == "soft"
            else None
        )
        self.gate = nn.ModuleDict({m: nn.Linear(d + dim, dim) for m, d in modality_dims.items()})
        self.shift = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in modality_dims.items()})
        self.norm = nn.LayerNorm(dim) if layernorm else None
        self.dropout = nn.Dropout(dropout)

    def displacement(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> Tensor:
        """``H``: the gated sum of the aligned non-verbal vectors, ``[B, l_t, d]``."""
        total = torch.zeros_like(hidden)
        for name, gate in self.gate.items():
            x = features[name]
            logits = self.align[name](x) if self.align is not None else None
            aligned = align_to_tokens(x, masks[name], text_mask, logits)  # [B, l_t, D_m]
            weight = torch.relu(gate(torch.cat([aligned, hidden], dim=-1)))
            total = total + weight * self.shift[name](aligned)
        return total

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> FusionOutput:
        """Shift every token by its gated displacement (see the module docstring)."""
        shift = self.displacement(hidden, text_mask, features, masks)
        # norms through sqrt(sum + eps): finite gradients also where H is exactly zero
        z_norm = torch.sqrt(hidden.pow(2).sum(dim=-1) + self.eps)
        h_norm = torch.sqrt(shift.pow(2).sum(dim=-1) + self.eps)
        alpha = (self.beta * z_norm / h_norm).clamp(max=1.0)  # [B, l_t]
        moved = alpha[..., None] * shift
        if self.norm is None:
            out = hidden + self.dropout(moved)
        else:
            out = self.dropout(self.norm(hidden + moved))
        return FusionOutput(out, {"mag_alpha": alpha})
