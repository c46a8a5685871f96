"""HyCon's model as a fusion with its own head (seed 002, Section 3.2, eqs. 1-2).

Registered as ``fusion: hycon`` (stage ``"output"``, ``head=True``); settings ``HyconOptions``
(``method_options.py``); its contrastive losses are the ``hycon_*`` terms (``hycon_losses.py``).

- Unimodal learning networks (eq. 1): ``x^l`` = the pretrained encoder's pooled ``E_f``
  (``ModelConfig.pooling``) projected to d; ``x^v``, ``x^a`` = ``SequenceEncoder`` states at the
  last real frame ("the feature embedding in the last time step"), d wide.
- Fusion and prediction (eq. 2): element-wise addition (the paper's default, Table 5),
  ``y_M = Linear(Dropout(x^l + x^v + x^a))``: one score for regression (loss MAE), one logit per
  class for single-label tasks (the paper's emotion variant uses cross-entropy).
- ``aux["hycon"]`` holds ``x [B, M, d]`` (modalities in the order text, video, audio) for the
  losses; they are discarded at inference, as in the paper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .blocks import FusionOutput
from .heads import masked_mean
from .method_options import HyconOptions
from .sequence import SequenceEncoder, last_valid

__all__ = ["HyconFusion"]


class HyconFusion(nn.Module):
    """Unimodal networks + additive fusion + prediction head (see the module docstring)."""

    def __init__(self, hidden: int, config: Any, options: HyconOptions):
        super().__init__()
        self.options = options
        self.pooling = config.pooling
        self.modalities = ("text", *config.modalities)
        self.text = nn.Linear(hidden, options.dim)
        self.streams = nn.ModuleDict(
            {
                m: SequenceEncoder(
                    getattr(config, f"{m}_dim"),
                    options.dim,
                    options.layers,
                    options.heads,
                    config.dropout,
                )
                for m in config.modalities
            }
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(options.dim, config.num_labels)

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> FusionOutput:
        """``E_f`` (+ frames) -> ``FusionOutput(E_f, {"logits", "hycon"})``."""
        text = hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, text_mask.bool())
        unimodal = [self.text(text)]
        for name, stream in self.streams.items():
            unimodal.append(last_valid(stream(features[name], masks[name]), masks[name]))
        x = torch.stack(unimodal, dim=1)  # [B, M, d]
        logits = self.head(self.dropout(x.sum(dim=1)))  # eq. 2, element-wise addition
        return FusionOutput(hidden, {"logits": logits, "hycon": x})
