"""Text-guided fusion: the Text-Guided Unit of MVCN (seed 001, "Multi-View Calibration Network"),
stacked N times on the text encoder's output.

Seed 001 gives the unit as ``TGU(X_t, X_i)^N = [X_f = alpha(X_t, X_t, X_t), X_g = gamma(X_f, X_i,
X_i), FFN(X_g)]``: self-attention on the text, cross-attention from the text to the other
modality (the text is the query, so it leads the fusion), a feed-forward network; N units
stacked. Stage ``"output"``: ``X_t`` is ``E_f``; video and audio are projected to the encoder
width (linear + LayerNorm) once, before the first unit.

Choices the slides leave open (stated once):
- MVCN fuses one image with the text; with video and audio, each unit has one cross-attention
  per modality, and their outputs are summed into one residual:
  ``X_g = LayerNorm(X_f + sum_m Dropout(CrossAttn_m(X_f, X_m)))``.
- Blocks are post-norm (``LayerNorm(x + Dropout(f(x)))``), as the encoder the units continue.
- The slides' Fig. 4 shows a sparse attention in the fusion; its form is not given, so the
  attention is the ordinary softmax one. N (``tg_layers``) and the heads (``tg_num_heads``) are
  not given either (defaults 1 and 8: one unit keeps a training step within 2x of the text
  encoder's on CPU with MIntRec-sized features, two cost 2.1-2.4x; ``benchmarks/methods.py``).
The Sentiment-based Congruity Constraint (eqs. 3-5) that MVCN trains with is the ``scc`` loss
term (``congruity.py``), switched on by the ``mvcn`` preset.
"""

from __future__ import annotations

from torch import Tensor, nn

from .ame import CrossAttentionBlock
from .blocks import FeedForwardBlock, attendable

__all__ = ["TextGuidedUnit", "TextGuidedFusion"]


class TextGuidedUnit(nn.Module):
    """One TGU: text self-attention, text -> each modality cross-attention, feed-forward."""

    def __init__(self, dim: int, modalities: tuple[str, ...], num_heads: int, dropout: float):
        super().__init__()
        self.self_attn = CrossAttentionBlock(dim, num_heads, dropout)  # alpha(X_t, X_t, X_t)
        self.cross = nn.ModuleDict(  # gamma(X_f, X_m, X_m), one per modality
            {
                m: nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
                for m in modalities
            }
        )
        self.cross_dropout = nn.Dropout(dropout)
        self.cross_norm = nn.LayerNorm(dim)
        self.ffn = FeedForwardBlock(dim, 4, dropout)

    def forward(
        self, text: Tensor, text_mask: Tensor, others: dict[str, Tensor], masks: dict[str, Tensor]
    ) -> Tensor:
        """``text [B, l_t, d]``, ``others[m] [B, L_m, d]`` -> ``[B, l_t, d]``."""
        x_f = self.self_attn(text, text, text_mask)
        total = x_f
        for name, attn in self.cross.items():
            out, _ = attn(
                x_f, others[name], others[name], key_padding_mask=~masks[name], need_weights=False
            )
            total = total + self.cross_dropout(out)
        return self.ffn(self.cross_norm(total))


class TextGuidedFusion(nn.Module):
    """N stacked ``TextGuidedUnit``s over ``E_f``: ``-> [B, l_t, d]``."""

    def __init__(
        self,
        dim: int,
        modality_dims: dict[str, int],
        *,
        layers: int = 1,
        num_heads: int = 8,
        dropout: float = 0.1,
    ):
        super().__init__()
        if not modality_dims:
            raise ValueError("TextGuidedFusion needs at least one of video/audio")
        if dim % num_heads:
            raise ValueError(f"tg_num_heads={num_heads} does not divide the encoder width {dim}")
        self.project = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(d, dim), nn.LayerNorm(dim))
                for m, d in modality_dims.items()
            }
        )
        names = tuple(modality_dims)
        self.units = nn.ModuleList(
            [TextGuidedUnit(dim, names, num_heads, dropout) for _ in range(layers)]
        )

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> Tensor:
        """Stack the units; the text leads every one of them."""
        others = {m: proj(features[m]) for m, proj in self.project.items()}
        real = {m: attendable(masks[m]) for m in self.project}
        x = hidden
        for unit in self.units:
            x = unit(x, text_mask.bool(), others, real)
        return x
