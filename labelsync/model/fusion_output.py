"""``FusionOutput``: what a fusion returns when it has more to say than the hidden states.

Its own module so that fusion modules can return it without importing the registry
(``fusion.py`` imports them when it builds one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["FusionOutput"]


@dataclass
class FusionOutput:
    """A fusion's new hidden states plus ``aux``, which lands in ``ModelOutput.aux``."""

    hidden: Tensor  # [B, l_t, d]
    aux: dict[str, Any] = field(default_factory=dict)  # by name; "logits" for a head fusion
