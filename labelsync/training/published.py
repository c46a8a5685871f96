"""Published results: the papers' numbers that sweep summaries print beside ours.

They live in a data file with a source column, ``labelsync/presets/published.csv`` by default
(``dataset, protocol, method, metric, value, source``; values in percent as printed; ``#`` lines
are comments). A sweep config meets its published row by dataset (``TrainConfig.dataset``),
protocol (``oos_mode``: ``drop`` -> ``in-scope``, ``class`` -> ``in-scope+oos``) and method:
the config's name without a grid suffix (``mag-bert+oos_mode=class`` -> ``mag-bert``).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "PublishedResult",
    "read_published",
    "published_for",
    "protocol_of",
    "method_of",
    "COLUMNS",
]

COLUMNS = ("dataset", "protocol", "method", "metric", "value", "source")
PROTOCOLS = {"drop": "in-scope", "class": "in-scope+oos"}


@dataclass(frozen=True)
class PublishedResult:
    """One number a paper prints: ``value`` in percent, with where it was printed."""

    dataset: str
    protocol: str
    method: str
    metric: str
    value: float
    source: str


def read_published(path: str | os.PathLike | None = None) -> list[PublishedResult]:
    """The rows of ``path`` (default: the shipped ``published.csv``); a bad row is a
    ``ConfigError`` naming the file and line."""
    if path is None:
        from importlib import resources

        resource = resources.files("labelsync.presets") / "published.csv"
        with resources.as_file(resource) as shipped:
            return read_published(shipped)
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        numbered = [
            (number, line)
            for number, line in enumerate(handle, start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not numbered:
        raise ConfigError(f"{path}: no header line ({', '.join(COLUMNS)})")
    rows = list(csv.reader(line for _, line in numbered))
    header = [cell.strip() for cell in rows[0]]
    if tuple(header) != COLUMNS:
        raise ConfigError(
            f"{path}:{numbered[0][0]}: header must be {','.join(COLUMNS)}, got {','.join(header)}"
        )
    results = []
    for (number, _), cells in zip(numbered[1:], rows[1:], strict=True):
        where = f"{path}:{number}"
        if len(cells) != len(COLUMNS):
            raise ConfigError(f"{where}: expected {len(COLUMNS)} fields, got {len(cells)}")
        record = dict(zip(COLUMNS, (cell.strip() for cell in cells), strict=True))
        try:
            value = float(record["value"])
        except ValueError:
            raise ConfigError(f"{where}: value must be a number, got {record['value']!r}") from None
        if not 0.0 <= value <= 100.0:
            raise ConfigError(f"{where}: value is a percentage, got {value}")
        if record["protocol"] not in PROTOCOLS.values():
            raise ConfigError(
                f"{where}: protocol must be one of {', '.join(PROTOCOLS.values())}, "
                f"got {record['protocol']!r}"
            )
        if not all(record[name] for name in ("dataset", "method", "metric", "source")):
            raise ConfigError(f"{where}: dataset, method, metric and source must not be empty")
        results.append(PublishedResult(**{**record, "value": value}))
    return results


def protocol_of(config: Any) -> str:
    """``in-scope`` or ``in-scope+oos`` for a ``TrainConfig`` (by its ``oos_mode``)."""
    return PROTOCOLS[config.oos_mode]


def method_of(config_name: str) -> str:
    """A sweep config's method: its name without a grid suffix (``+key=value,...``)."""
    return re.sub(r"\+[^+]*=.*$", "", config_name)


def published_for(
    results: list[PublishedResult], dataset: str, protocol: str, method: str
) -> dict[str, PublishedResult]:
    """metric -> the published result for (dataset, protocol, method); empty when none."""
    return {
        r.metric: r
        for r in results
        if (r.dataset, r.protocol, r.method) == (dataset.lower(), protocol, method)
    }
