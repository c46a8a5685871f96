"""Presets: the published configurations as option files shipped with the package.

A preset is a YAML of ``TrainConfig`` options in ``labelsync/presets/models/NAME.yaml``; it may
``extends:`` another. ``TrainConfig.resolve`` layers defaults < preset < config file < flags.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import ConfigError

__all__ = ["available_presets", "preset_layers"]


def available_presets() -> list[str]:
    """Names of the shipped presets (``labelsync/presets/models/*.yaml``)."""
    from importlib import resources

    folder = resources.files("labelsync.presets") / "models"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_layers(name: str) -> list[dict[str, Any]]:
    """The option layers of a shipped preset: its ``extends:`` chain first, itself last."""
    from importlib import resources

    from .._io import read_yaml

    known = available_presets()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown preset {name!r}{hint}; presets: {', '.join(known)}")
    resource = resources.files("labelsync.presets") / "models" / f"{name}.yaml"
    with resources.as_file(resource) as path:
        data = read_yaml(path, ConfigError, "preset") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name!r} is not a mapping of options")
    parent = data.pop("extends", None)
    return [*preset_layers(parent), data] if parent else [data]
