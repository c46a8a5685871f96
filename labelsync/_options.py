"""Typed option values: check a value read from YAML or the command line against a dataclass
field type, and suggest the closest known name for a typo. Errors are one ``ConfigError`` line."""

from __future__ import annotations

import difflib
import os
import typing
from typing import Any

from .errors import ConfigError

__all__ = ["coerce", "hint", "check_choices"]


def hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the field type; ints pass as floats, lists as tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{name} must not be empty")
    if type(None) in args:  # X | None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:  # seeds
        items = [value] if isinstance(value, int) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{name} must be a list of integers, got {value!r}")
        return tuple(coerce(name, item, args[0]) for item in items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 2e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value


def check_choices(
    owner: Any, choices: dict[str, tuple[str, ...]], error: type[Exception] = ConfigError
) -> None:
    """Each ``owner.<name>`` must be one of ``choices[name]``; else one ``error`` line."""
    for name, allowed in choices.items():
        value = getattr(owner, name)
        if value not in allowed:
            raise error(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
