"""Heads on the encoder output ``E_f``: pooling and the semantic-synchronisation token ``T_f``."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["masked_mean", "SemanticSyncHead"]


def masked_mean(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean over the positions where ``mask`` is true: ``[B, T, d]`` -> ``[B, d]``."""
    weights = mask.to(hidden.dtype)[..., None]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class SemanticSyncHead(nn.Module):
    """``E_f -> T_f``: pool over the sequence, LayerNorm, 2-layer MLP to the description space."""

    def __init__(self, hidden_dim: int, desc_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, desc_dim),
        )

    def forward(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """``[B, T, d]`` + mask -> ``[B, desc_dim]``."""
        return self.mlp(self.norm(masked_mean(hidden, mask)))
