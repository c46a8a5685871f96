"""Run directories, mean ± std tables over seeds, and the per-epoch resume state.

A run directory::

    RUN/run.json            dataset, label names, feature dims, seeds, finished flag
    RUN/config.yaml         the resolved TrainConfig        RUN/descriptions.yaml  the ones used
    RUN/train.log           the log of every training session on this run
    RUN/results.{json,md}   mean ± std over the seeds (dev and test)
    RUN/seed-S/best/        best checkpoint (AMessModel.save_pretrained, tokenizer included)
    RUN/seed-S/resume/      last completed epoch: model/optimizer/rng .safetensors + state.json
    RUN/seed-S/metrics.json per-epoch history, best dev and test metrics; curves.png

The resume state (``state.py``) never uses pickle: tensors go to safetensors, the rest to JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_json, atomic_write_text, read_yaml
from ..errors import LabelsyncError
from ..labels import normalize_label
from .state import STATE_FILES, load_resume_state, save_resume_state
from .task_metrics import RAW_METRICS, TASK_METRICS, is_better

__all__ = [
    "RunDir",
    "RunError",
    "summarize_seeds",
    "results_markdown",
    "capture_log",
    "save_evaluation",
    "metric_names",
    "format_cell",
]

log = logging.getLogger(__name__)

RUN_FILE, CONFIG_FILE, DESCRIPTIONS_FILE = "run.json", "config.yaml", "descriptions.yaml"
LOG_FILE, RESULTS_JSON, RESULTS_MD = "train.log", "results.json", "results.md"
BEST_DIR, RESUME_DIR, METRICS_FILE, CURVES_FILE = "best", "resume", "metrics.json", "curves.png"


class RunError(LabelsyncError):
    """A run directory is missing files, belongs to other labels, or cannot be resumed."""


@dataclass
class RunDir:
    """Paths and small JSON records of one run directory."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    # --- paths ------------------------------------------------------------------------------
    def seed_dir(self, seed: int) -> Path:
        return self.root / f"seed-{seed}"

    def best_dir(self, seed: int) -> Path:
        return self.seed_dir(seed) / BEST_DIR

    def resume_dir(self, seed: int) -> Path:
        return self.seed_dir(seed) / RESUME_DIR

    def metrics_path(self, seed: int) -> Path:
        return self.seed_dir(seed) / METRICS_FILE

    @property
    def log_path(self) -> Path:
        return self.root / LOG_FILE

    # --- records ----------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether a run was started here (``run.json`` present)."""
        return (self.root / RUN_FILE).is_file()

    def info(self) -> dict[str, Any]:
        """``run.json`` (dataset, labels, dims, seeds, finished)."""
        return _read_json(self.root / RUN_FILE)

    def write_info(self, info: dict[str, Any]) -> None:
        atomic_write_json(self.root / RUN_FILE, info)

    def update_info(self, **changes: Any) -> None:
        self.write_info({**self.info(), **changes})

    def check_new(self) -> None:
        """Raise ``RunError`` unless the directory is absent or empty."""
        if self.exists():
            raise RunError(
                f"{self.root} already holds a run: pass --resume to continue it, "
                "or choose another --out"
            )
        if self.root.is_dir() and any(self.root.iterdir()):
            raise RunError(f"{self.root} is not empty: choose another --out")

    def check_resumable(self) -> None:
        """Raise ``RunError`` for a finished run (a missing one fails later, naming the file)."""
        if self.exists() and self.info().get("finished"):
            raise RunError(
                f"{self.root} is finished: nothing to resume (use a new --out to "
                "train again, or `labelsync evaluate` it)"
            )

    def start(self, config: Any, descriptions: Any, **info: Any) -> None:
        """Write ``config.yaml``, ``descriptions.yaml`` and ``run.json`` (+ version, time)."""
        from .. import __version__

        self.root.mkdir(parents=True, exist_ok=True)
        config.to_yaml(self.root / CONFIG_FILE)
        descriptions.to_yaml(self.root / DESCRIPTIONS_FILE)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.write_info(
            {
                "labelsync": __version__,
                **info,
                "seeds": list(config.seeds),
                "finished": False,
                "created": created,
            }
        )

    def descriptions(self) -> Any:
        """The label descriptions the run trained with (none for a regression run)."""
        from ..descriptions import Descriptions

        path = self.root / DESCRIPTIONS_FILE
        if read_yaml(path, RunError, "descriptions") == {"labels": []}:  # regression
            return Descriptions()
        return Descriptions.from_yaml(path)

    def require(self, *names: str) -> None:
        """Raise ``RunError`` naming the first of ``names`` (relative paths) that is missing."""
        if not self.root.is_dir():
            raise RunError(f"{self.root}: run directory not found")
        for name in (RUN_FILE, *names):
            if not (self.root / name).exists():
                raise RunError(f"{self.root}: not a complete run directory (missing {name})")

    def check_labels(self, names: list[str], what: str) -> None:
        """Raise ``RunError`` when ``names`` (of ``what``) are not the run's label set."""
        ours = self.info()["labels"]
        if [normalize_label(n) for n in names] != [normalize_label(n) for n in ours]:
            extra = sorted(set(names) - set(ours))[:3]
            missing = sorted(set(ours) - set(names))[:3]
            raise RunError(
                f"{what} has another label set than run {self.root} ({len(names)} labels vs "
                f"{len(ours)}; not in the run: {extra or '-'}; missing: {missing or '-'})"
            )

    def finished_seeds(self) -> list[int]:
        """Seeds whose ``metrics.json`` was written (training and test evaluation done)."""
        return [s for s in self.info()["seeds"] if self.metrics_path(s).is_file()]

    def seed_metrics(self, seed: int) -> dict[str, Any]:
        return _read_json(self.metrics_path(seed))

    def best_seed(self) -> int:
        """The finished seed with the best dev metric (ties: the first seed)."""
        done = self.finished_seeds()
        if not done:
            raise RunError(f"{self.root}: no finished seed (train it, or --resume it)")
        best = done[0]
        for seed in done[1:]:  # lower is better for MAE and Hamming loss
            ours, theirs = self.seed_metrics(seed), self.seed_metrics(best)
            metric = ours.get("metric", "macro_f1")
            if is_better(metric, ours["best_dev_metric"], theirs["best_dev_metric"]):
                best = seed
        return best

    def model_dir(self, seed: int | None = None) -> Path:
        """The best checkpoint of ``seed`` (default: the best seed); an error if incomplete."""
        seed = self.best_seed() if seed is None else seed
        if seed not in self.info()["seeds"]:
            raise RunError(
                f"{self.root}: no seed {seed} in this run (seeds {self.info()['seeds']})"
            )
        path = self.best_dir(seed)
        for name in ("model.safetensors", "config.json", "encoder"):
            if not (path / name).exists():
                raise RunError(f"{path}: incomplete checkpoint (missing {name})")
        return path

    def write_results(self, per_seed: dict[int, dict[str, Any]], metric: str) -> dict[str, Any]:
        """``results.json`` + ``results.md``: mean ± std of dev and test metrics over seeds."""
        summary = summarize_seeds(per_seed)
        summary["selection_metric"] = metric
        atomic_write_json(self.root / RESULTS_JSON, summary)
        atomic_write_text(self.root / RESULTS_MD, results_markdown(summary))
        return summary

    # --- resume state -----------------------------------------------------------------------
    def has_resume_state(self, seed: int) -> bool:
        return all((self.resume_dir(seed) / name).is_file() for name in STATE_FILES)

    def save_resume_state(self, seed: int, *parts: Any, **kwargs: Any) -> Path:
        """``state.save_resume_state`` into ``seed-S/resume``."""
        return save_resume_state(self.resume_dir(seed), *parts, **kwargs)

    def load_resume_state(self, seed: int, *parts: Any, **kwargs: Any) -> dict[str, Any]:
        """``state.load_resume_state`` from ``seed-S/resume``."""
        return load_resume_state(self.resume_dir(seed), *parts, **kwargs)


def save_evaluation(report: dict[str, Any], folder: Path, names: list[str]) -> list[Path]:
    """``metrics.json``, ``confusion_matrix.png``, ``per_class.csv`` and ``per_class.md`` (a
    multi-label report has per-label rows and no confusion matrix, a regression one only
    ``metrics.json``)."""
    from .metrics import per_class_csv, per_class_markdown
    from .plots import plot_confusion

    if "confusion" not in report:
        files = [atomic_write_json(folder / "metrics.json", report)]
        if report.get("per_class"):
            rows = report["per_class"]
            files.append(atomic_write_text(folder / "per_label.csv", per_class_csv(rows)))
            files.append(atomic_write_text(folder / "per_label.md", per_class_markdown(rows)))
        return files
    title = (
        f"{report['split']} (seed {report['seed']}): accuracy {report['metrics']['accuracy']:.3f}"
    )
    rows = report["per_class"]
    return [
        atomic_write_json(folder / "metrics.json", report),
        plot_confusion(
            np.asarray(report["confusion"]), names, folder / "confusion_matrix.png", title
        ),
        atomic_write_text(folder / "per_class.csv", per_class_csv(rows)),
        atomic_write_text(folder / "per_class.md", per_class_markdown(rows)),
    ]


# --- summaries --------------------------------------------------------------------------------


def summarize_seeds(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (0 for one seed) of every dev/test metric over the seeds."""
    seeds = sorted(per_seed)
    summary: dict[str, Any] = {"seeds": seeds}
    for split in ("dev", "test"):
        table = {}
        for name in metric_names(per_seed[s].get(split, {}) for s in seeds):
            values = [per_seed[s][split][name] for s in seeds if name in per_seed[s].get(split, {})]
            if values:
                std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                table[name] = {
                    "mean": round(float(np.mean(values)), 6),
                    "std": round(std, 6),
                    "values": values,
                }
        summary[split] = table
    return summary


def results_markdown(summary: dict[str, Any]) -> str:
    """The mean ± std table, one row per metric, dev and test columns (in percent, except MAE
    and correlation)."""
    seeds = ", ".join(map(str, summary["seeds"]))
    lines = [
        f"Seeds: {seeds} (mean ± sample std; % except {', '.join(sorted(RAW_METRICS))})",
        "",
        "| metric | dev | test |",
        "|---|---|---|",
    ]
    for name in metric_names(summary.get(split, {}) for split in ("dev", "test")):
        cells = [format_cell(name, summary.get(split, {}).get(name)) for split in ("dev", "test")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def metric_names(tables: Any) -> list[str]:
    """The metric names of several ``{name: value}`` tables: the known ones in the tasks' order
    first (``METRIC_NAMES``, then multi-label, then regression), then any other, first seen."""
    seen = dict.fromkeys(name for table in tables for name in table)
    known = dict.fromkeys(name for names in TASK_METRICS.values() for name in names)
    return [name for name in known if name in seen] + [name for name in seen if name not in known]


def format_cell(name: str, cell: dict[str, Any] | None) -> str:
    """``mean ± std`` of a summary cell: percent with 2 decimals, MAE/corr as they are."""
    if cell is None:
        return "-"
    if name in RAW_METRICS:
        return f"{cell['mean']:.4f} ± {cell['std']:.4f}"
    return f"{100 * cell['mean']:.2f} ± {100 * cell['std']:.2f}"


# --- helpers ----------------------------------------------------------------------------------


@contextmanager
def capture_log(path: Path, level: int = logging.INFO) -> Iterator[None]:
    """Append ``labelsync`` log records at ``level`` to ``path`` while the block runs.

    Console handlers keep the level they showed before (the file may be more detailed).
    """
    package = logging.getLogger("labelsync")
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    old_level, effective = package.level, package.getEffectiveLevel()
    raised: list[tuple[logging.Handler, int]] = []
    if effective > level:
        for other in {*logging.getLogger().handlers, *package.handlers}:
            if other.level < effective:
                raised.append((other, other.level))
                other.setLevel(effective)
        package.setLevel(level)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        handler.close()
        package.setLevel(old_level)
        for other, other_level in raised:
            other.setLevel(other_level)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: invalid JSON at line {exc.lineno}") from None
