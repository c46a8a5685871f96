"""A sweep's summary: mean ± std per config over its finished seeds, as JSON, CSV and markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from .._io import atomic_write_json, atomic_write_text
from .runs import RunDir, format_cell, metric_names, summarize_seeds

__all__ = [
    "sweep_summary",
    "write_summary",
    "summary_markdown",
    "summary_csv",
    "describe_overrides",
]

SUMMARY_METRICS = ("accuracy", "macro_f1", "weighted_f1")
TASK_SUMMARY_METRICS = {  # the columns of summary.md, by what the runs report
    "hamming_loss": ("micro_f1", "accuracy", "hamming_loss", "macro_f1"),  # multi-label
    "mae": ("mae", "corr", "acc2_non0", "f1_non0", "acc7"),  # regression
}


def sweep_summary(sweep: Any) -> dict[str, Any]:
    """Per config: overrides, finished seeds, mean ± std of every dev/test metric."""
    rows = []
    by_config: dict[str, list[Any]] = {}
    for run in sweep.runs():
        by_config.setdefault(run.config_name, []).append(run)
    for name, overrides in sweep.variants:
        per_seed = {}
        for run in by_config[name]:
            metrics = RunDir(run.folder).metrics_path(run.seed)
            if metrics.is_file():
                per_seed[run.seed] = json.loads(metrics.read_text(encoding="utf-8"))
        row: dict[str, Any] = {"config": name, "overrides": overrides}
        row["seeds_done"] = sorted(per_seed)
        row["seeds_total"] = len(sweep.seeds)
        if per_seed:
            row |= {k: v for k, v in summarize_seeds(per_seed).items() if k != "seeds"}
            row["metric"] = next(iter(per_seed.values())).get("metric", "macro_f1")
        rows.append(row)
    return {"out": str(sweep.out), "seeds": list(sweep.seeds), "configs": rows}


def write_summary(sweep: Any) -> dict[str, Any]:
    """``summary.json``, ``summary.csv`` and ``summary.md`` in ``OUT``."""
    summary = sweep_summary(sweep)
    atomic_write_json(sweep.out / "summary.json", summary)
    atomic_write_text(sweep.out / "summary.csv", summary_csv(summary))
    atomic_write_text(sweep.out / "summary.md", summary_markdown(summary))
    return summary


def summary_markdown(summary: dict[str, Any], metrics: Sequence[str] | None = None) -> str:
    """One row per config: test metrics and the dev selection metric as mean ± std (percent,
    except MAE and correlation). ``metrics``: the test columns (default: by what the runs
    report: accuracy/macro/weighted F1, the multi-label or the regression headline metrics)."""
    configs = summary["configs"]
    present = metric_names(row.get("test", {}) for row in configs)
    if metrics is None:
        task = next((k for k in TASK_SUMMARY_METRICS if k in present), None)
        metrics = TASK_SUMMARY_METRICS[task] if task else SUMMARY_METRICS
    selection = {row.get("metric", "macro_f1") for row in configs if row["seeds_done"]}
    dev = selection.pop() if len(selection) == 1 else "macro_f1"
    header = ["config", "seeds", *(f"test {m}" for m in metrics), f"dev {dev}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in configs:
        cells = [row["config"], f"{len(row['seeds_done'])}/{row['seeds_total']}"]
        for split, name in [*(("test", m) for m in metrics), ("dev", dev)]:
            cells.append(format_cell(name, row.get(split, {}).get(name)))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = ", ".join(map(str, summary["seeds"]))
    return f"Seeds: {seeds} (mean ± sample std, %)\n\n" + "\n".join(lines) + "\n"


def summary_csv(summary: dict[str, Any]) -> str:
    """The summary as CSV: one row per config, ``<split>_<metric>_{mean,std}`` columns."""
    columns = ["config", "overrides", "seeds_done", "seeds_total"]
    names = metric_names(row.get(s, {}) for row in summary["configs"] for s in ("dev", "test"))
    columns += [
        f"{s}_{m}_{stat}" for s in ("dev", "test") for m in names for stat in ("mean", "std")
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in summary["configs"]:
        record = {
            "config": row["config"],
            "overrides": describe_overrides(row["overrides"]),
            "seeds_done": " ".join(map(str, row["seeds_done"])),
            "seeds_total": row["seeds_total"],
        }
        for split in ("dev", "test"):
            for name, value in row.get(split, {}).items():
                record[f"{split}_{name}_mean"] = value["mean"]
                record[f"{split}_{name}_std"] = value["std"]
        writer.writerow(record)
    return buffer.getvalue()


def describe_overrides(overrides: dict[str, Any]) -> str:
    """``k=v, ...`` of a config's overrides (``(base)`` for none)."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(base)"
