"""A sweep's summary: mean ± std per config over its finished seeds, as JSON, CSV and markdown,
with the encoder and features each config used and the published numbers beside ours
(``published.py``: the papers' test results, with their source)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from .._io import atomic_write_json, atomic_write_text
from .published import method_of, protocol_of, published_for, read_published
from .runs import RunDir, format_cell, metric_names, summarize_seeds

__all__ = [
    "sweep_summary",
    "describe_features",
    "write_summary",
    "summary_markdown",
    "summary_csv",
    "describe_overrides",
]

SUMMARY_METRICS = ("accuracy", "macro_f1", "weighted_f1")
PUBLISHED_SHOWN = ("accuracy", "macro_f1")  # the markdown puts these beside ours
TASK_SUMMARY_METRICS = {  # the columns of summary.md, by what the runs report
    "hamming_loss": ("micro_f1", "accuracy", "hamming_loss", "macro_f1"),  # multi-label
    "mae": ("mae", "corr", "acc2_non0", "f1_non0", "acc7"),  # regression
}


def sweep_summary(sweep: Any, published: list[Any] | None = None) -> dict[str, Any]:
    """Per config: overrides, encoder, features, finished seeds, mean ± std of every dev/test
    metric, and the published test results for its dataset, protocol and method."""
    published = read_published() if published is None else published
    rows = []
    by_config: dict[str, list[Any]] = {}
    for run in sweep.runs():
        by_config.setdefault(run.config_name, []).append(run)
    for name, overrides in sweep.variants:
        per_seed, features = {}, None
        for run in by_config[name]:
            folder = RunDir(run.folder)
            metrics = folder.metrics_path(run.seed)
            if metrics.is_file():
                per_seed[run.seed] = json.loads(metrics.read_text(encoding="utf-8"))
                features = folder.info().get("feature_dims", features)
        config = by_config[name][0].config
        row: dict[str, Any] = {"config": name, "overrides": overrides}
        row["dataset"], row["protocol"] = config.dataset, protocol_of(config)
        row["encoder"] = config.encoder
        row["fusion"] = config.model.fusion
        row["features"] = describe_features(features, config.model.fusion)
        row["seeds_done"] = sorted(per_seed)
        row["seeds_total"] = len(sweep.seeds)
        if per_seed:
            row |= {k: v for k, v in summarize_seeds(per_seed).items() if k != "seeds"}
            row["metric"] = next(iter(per_seed.values())).get("metric", "macro_f1")
        found = published_for(published, config.dataset, row["protocol"], method_of(name))
        row["published"] = {
            metric: {"value": r.value, "source": r.source} for metric, r in found.items()
        }
        rows.append(row)
    return {"out": str(sweep.out), "seeds": list(sweep.seeds), "configs": rows}


def describe_features(feature_dims: dict[str, int] | None, fusion: str = "a-me") -> str:
    """What a run fed the model: ``video 256-d + audio 768-d``, ``text only`` (naming the
    features a ``none`` fusion left unused), or ``-`` before a run has finished."""
    if feature_dims is None:
        return "-"
    found = " + ".join(f"{name} {dim}-d" for name, dim in feature_dims.items())
    if not found:
        return "text only"
    return f"text only ({found} unused)" if fusion == "none" else found


def write_summary(sweep: Any) -> dict[str, Any]:
    """``summary.json``, ``summary.csv`` and ``summary.md`` in ``OUT``."""
    summary = sweep_summary(sweep)
    atomic_write_json(sweep.out / "summary.json", summary)
    atomic_write_text(sweep.out / "summary.csv", summary_csv(summary))
    atomic_write_text(sweep.out / "summary.md", summary_markdown(summary))
    return summary


def summary_markdown(summary: dict[str, Any], metrics: Sequence[str] | None = None) -> str:
    """One row per config: encoder, features, test metrics and the dev selection metric as
    mean ± std (percent, except MAE and correlation), the published test accuracy and macro F1
    beside ours, and their source. ``metrics``: the test columns (default: by what the runs
    report: accuracy/macro/weighted F1, the multi-label or the regression headline metrics)."""
    configs = summary["configs"]
    present = metric_names(row.get("test", {}) for row in configs)
    if metrics is None:
        task = next((k for k in TASK_SUMMARY_METRICS if k in present), None)
        metrics = TASK_SUMMARY_METRICS[task] if task else SUMMARY_METRICS
    selection = {row.get("metric", "macro_f1") for row in configs if row["seeds_done"]}
    dev = selection.pop() if len(selection) == 1 else "macro_f1"
    header = ["config", "seeds", "encoder", "features"]
    for name in metrics:
        header.append(f"test {name}")
        if name in PUBLISHED_SHOWN:
            header.append(f"published {name}")
    header += [f"dev {dev}", "published in"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in configs:
        published = row.get("published", {})
        cells = [row["config"], f"{len(row['seeds_done'])}/{row['seeds_total']}"]
        cells += [row.get("encoder", "-"), row.get("features", "-")]
        for name in metrics:
            cells.append(format_cell(name, row.get("test", {}).get(name)))
            if name in PUBLISHED_SHOWN:
                paper = published.get(name)
                cells.append("-" if paper is None else f"{paper['value']:.2f}")
        cells.append(format_cell(dev, row.get("dev", {}).get(dev)))
        sources = sorted({p["source"] for p in published.values()})
        cells.append("; ".join(sources) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    seeds = ", ".join(map(str, summary["seeds"]))
    note = (
        f"Seeds: {seeds} (mean ± sample std; % except MAE and correlation). Published: the "
        "test results the source "
        "prints (%, with BERT and the dataset's released features); "
        "ours: measured on the data given to this sweep with the encoder and features shown."
    )
    return note + "\n\n" + "\n".join(lines) + "\n"


def summary_csv(summary: dict[str, Any]) -> str:
    """The summary as CSV: one row per config, ``<split>_<metric>_{mean,std}`` columns."""
    columns = ["config", "overrides", "seeds_done", "seeds_total"]
    columns += ["dataset", "protocol", "encoder", "fusion", "features"]
    names = metric_names(row.get(s, {}) for row in summary["configs"] for s in ("dev", "test"))
    columns += [
        f"{s}_{m}_{stat}" for s in ("dev", "test") for m in names for stat in ("mean", "std")
    ]
    metrics = sorted({m for row in summary["configs"] for m in row.get("published", {})})
    columns += [f"published_test_{m}" for m in metrics] + ["published_source"]
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
        for name in ("dataset", "protocol", "encoder", "fusion", "features"):
            record[name] = row.get(name, "")
        published = row.get("published", {})
        for metric, paper in published.items():
            record[f"published_test_{metric}"] = paper["value"]
        record["published_source"] = "; ".join(sorted({p["source"] for p in published.values()}))
        for split in ("dev", "test"):
            for name, value in row.get(split, {}).items():
                record[f"{split}_{name}_mean"] = value["mean"]
                record[f"{split}_{name}_std"] = value["std"]
        writer.writerow(record)
    return buffer.getvalue()


def describe_overrides(overrides: dict[str, Any]) -> str:
    """``k=v, ...`` of a config's overrides (``(base)`` for none)."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(base)"
