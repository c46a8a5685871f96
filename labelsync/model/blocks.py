"""Pieces the fusion modules share: what a fusion may return.

- ``FusionOutput``: a fusion returns its new hidden states, or this pair of hidden states and
  ``aux`` (tensors a registered loss term reads from ``ModelOutput.aux``, by name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["FusionOutput"]


@dataclass
class FusionOutput:
    """A fusion's result when it has more to say than the hidden states."""

    hidden: Tensor  # [B, l_t, d]
    aux: dict[str, Any] = field(default_factory=dict)  # lands in ``ModelOutput.aux``
