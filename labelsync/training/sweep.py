"""Sweeps: named configs and/or a grid of ``TrainConfig`` overrides, times seeds.

A sweep file (YAML)::

    out: runs/ablation            # optional; ``--out`` overrides it
    seeds: [0, 1, 2]
    base: {dataset: mintrec, data_dir: data/MIntRec, reviewed_descriptions: true}
    configs:                      # named variants (optional)
      - {name: a-mess}
      - {name: wo-ame, use_ame: false}
    grid:                         # every combination, crossed with configs (optional)
      learning_rate: [2e-5, 5e-5]

Every (config, seed) is an ordinary run directory ``OUT/runs/<config>-seed<S>`` (so
``evaluate`` and ``predict`` work on it): a finished run is skipped, an interrupted one resumed,
one holding a different config is an error. ``OUT/summary.{md,csv,json}`` hold mean ± std per
config over its finished seeds. ``jobs > 1`` runs that many runs at once, each in its own
``labelsync sweep --only`` process (one GPU each when ``devices`` are given).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..errors import LabelsyncError
from .arguments import ConfigError, TrainConfig
from .runs import CONFIG_FILE, RunDir
from .sweep_summary import describe_overrides, sweep_summary, write_summary

__all__ = ["Sweep", "SweepRun", "SweepError"]

log = logging.getLogger(__name__)

# options that change how a run is shown or fed, not what it learns
_NOT_COMPARED = {"progress", "num_workers", "data_dir", "video_feats", "audio_feats"}
_PATH_OPTIONS = ("data_dir", "descriptions", "video_feats", "audio_feats")
_TOP_KEYS = {"out", "seeds", "base", "configs", "grid"}


WORKER_ENV = "LABELSYNC_SWEEP_WORKER"  # set for the worker processes of ``jobs > 1``


def _accelerator_settings(config: TrainConfig) -> tuple:
    """What one process's accelerate state fixes: runs that differ here need their own process."""
    return (
        config.cpu,
        config.mixed_precision,
        config.compile,
        config.gradient_accumulation_steps,
    )


class SweepError(LabelsyncError):
    """A sweep file is invalid, a run directory conflicts with it, or runs failed."""


@dataclass(frozen=True)
class SweepRun:
    """One (config, seed) of a sweep and the run directory it trains into."""

    config_name: str
    seed: int
    overrides: dict[str, Any]
    config: TrainConfig
    folder: Path

    @property
    def key(self) -> str:
        return f"{self.config_name}-seed{self.seed}"


@dataclass(frozen=True)
class Sweep:
    """A resolved sweep: base options, named variants (grid expanded) and seeds."""

    out: Path
    base: dict[str, Any]
    variants: tuple[tuple[str, dict[str, Any]], ...]
    seeds: tuple[int, ...]
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> Sweep:
        """Read a sweep file; ``overrides`` (``out``, ``seeds``, base options) win over it."""
        from .._io import read_yaml

        path = Path(path)
        data = read_yaml(path, SweepError, "sweep file") or {}
        try:
            return cls.from_dict(data, **overrides)
        except SweepError as exc:
            raise SweepError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        out: str | os.PathLike | None = None,
        seeds: Sequence[int] | None = None,
        **base_overrides: Any,
    ) -> Sweep:
        """Validate a sweep mapping: every run's ``TrainConfig`` is built (and checked) here."""
        if not isinstance(data, dict):
            raise SweepError("a sweep must be a mapping with base, configs and/or grid")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise SweepError(
                f"unknown key {unknown[0]!r}; a sweep has {', '.join(sorted(_TOP_KEYS))}"
            )
        base = data.get("base") or {}
        if not isinstance(base, dict):
            raise SweepError("base must be a mapping of training options")
        base = dict(base)
        base.update({k: v for k, v in base_overrides.items() if v is not None})
        for name in _PATH_OPTIONS:  # absolute, so that every run (and worker) sees one file
            if base.get(name) and Path(str(base[name])).exists():
                base[name] = str(Path(str(base[name])).resolve())
        seed_list = seeds if seeds is not None else data.get("seeds", base.pop("seeds", [0]))
        base.pop("seeds", None)
        seed_list = [seed_list] if isinstance(seed_list, int) else list(seed_list or [])
        if not seed_list or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seed_list
        ):
            raise SweepError(f"seeds must be a non-empty list of integers, got {seed_list!r}")
        if len(set(seed_list)) != len(seed_list):
            raise SweepError(f"seeds repeat: {seed_list}")
        folder = out if out is not None else data.get("out")
        if not folder:
            raise SweepError("no output folder: give out: in the file or --out")
        variants = _expand(data.get("configs"), data.get("grid"))
        sweep = cls(Path(folder), base, tuple(variants), tuple(seed_list), spec=data)
        sweep.runs()  # every config is valid before anything trains
        return sweep

    # --- runs -------------------------------------------------------------------------------

    def runs(self) -> list[SweepRun]:
        """Every (config, seed), configs in file order, seeds inner."""
        runs = []
        for name, overrides in self.variants:
            for seed in self.seeds:
                options = {**self.base, **overrides, "seeds": [seed], "progress": False}
                preset = options.pop("preset", None)  # a config may name a preset of its own
                try:
                    config = TrainConfig.resolve(None, preset=preset, **options)
                except ConfigError as exc:
                    raise SweepError(f"config {name!r}: {exc}") from None
                folder = self.out / "runs" / f"{name}-seed{seed}"
                runs.append(SweepRun(name, seed, dict(overrides), config, folder))
        return runs

    def status(self, run: SweepRun) -> str:
        """``done``, ``partial`` (resumable) or ``new``; a conflicting folder is a SweepError."""
        folder = RunDir(run.folder)
        if not folder.exists():
            if run.folder.is_dir() and any(run.folder.iterdir()):
                raise SweepError(f"{run.folder} is not a run directory; move it away")
            return "new"
        saved = TrainConfig.from_yaml(run.folder / CONFIG_FILE).to_dict()
        wanted = run.config.to_dict()
        for name in wanted:
            if name not in _NOT_COMPARED and saved.get(name) != wanted[name]:
                raise SweepError(
                    f"{run.folder} was trained with {name}={saved.get(name)!r} but the sweep "
                    f"now asks for {wanted[name]!r}; delete that run or use another --out"
                )
        return "done" if folder.info().get("finished") else "partial"

    def train(self, run: SweepRun) -> str:
        """Train, resume or skip one run; returns what was done."""
        from .trainer import Trainer

        state = self.status(run)
        if state == "done":
            log.info("%s: finished, skipped", run.key)
            return "skipped"
        if state == "partial":
            log.info("%s: resuming", run.key)
            trainer = Trainer.resume(run.folder, data_dir=run.config.data_dir)  # data may move
        else:
            log.info("%s: training %s", run.key, describe_overrides(run.overrides))
            trainer = Trainer(run.config, run.folder)
        trainer.train()
        return "resumed" if state == "partial" else "trained"

    def run(
        self,
        *,
        jobs: int = 1,
        devices: Sequence[str] = (),
        only: Iterable[str] = (),
        on_done: Callable[[SweepRun, str], None] | None = None,
        worker: bool = False,
    ) -> dict[str, Any]:
        """Train every run not finished yet, then write and return the summary.

        ``jobs > 1`` runs in worker processes; ``devices`` (GPU ids) are handed out one per
        worker. Runs that need different accelerate settings (precision, CPU, compile,
        accumulation) always get their own process: accelerate keeps one state per process.
        A failed run does not stop the others; the SweepError at the end names them.
        ``worker``: this process is one of those workers (it writes no sweep file or summary).
        """
        if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            raise SweepError(
                "run `labelsync sweep` without a launcher; --jobs and --devices spread its runs"
            )
        runs = self.runs()
        wanted = set(only)
        if wanted:
            keys = {r.key for r in runs}
            missing = sorted(wanted - keys)
            if missing:
                raise SweepError(
                    f"no run {missing[0]!r} in this sweep (runs: {', '.join(sorted(keys))})"
                )
            runs = [r for r in runs if r.key in wanted]
        for run in runs:  # conflicts are found before anything trains
            self.status(run)
        if not worker:
            self.out.mkdir(parents=True, exist_ok=True)
            self.save()
        settings = {_accelerator_settings(run.config) for run in runs}
        if jobs <= 1 and (worker or len(settings) == 1):
            failures: dict[str, str] = {}
            for run in runs:
                try:
                    outcome = self.train(run)
                except Exception as exc:  # noqa: BLE001 - one run's failure is reported, not fatal
                    failures[run.key] = str(exc) or type(exc).__name__
                    log.error("%s failed: %s", run.key, failures[run.key])
                    outcome = "failed"
                if on_done:
                    on_done(run, outcome)
        else:
            todo = []
            for run in runs:
                if self.status(run) != "done":
                    todo.append(run)
                elif on_done:
                    on_done(run, "skipped")
            failures = self._run_workers(todo, max(jobs, 1), list(devices), on_done)
        summary = {} if worker else self.write_summary()
        if failures:
            first, reason = next(iter(failures.items()))
            raise SweepError(
                f"{len(failures)} of {len(runs)} runs failed, first {first}: {reason}; "
                "the others are saved and the summary written; run the sweep again to retry"
            )
        return summary

    def _run_workers(self, runs, jobs, devices, on_done) -> dict[str, str]:
        """Each run in its own ``labelsync sweep --only KEY`` process, ``jobs`` at a time."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        slots = list(range(jobs))
        lock = threading.Lock()
        failures: dict[str, str] = {}
        threads = max(1, (os.cpu_count() or 1) // jobs)

        def work(run: SweepRun) -> None:
            with lock:
                slot = slots.pop()
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), WORKER_ENV: "1"}
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = str(devices[slot % len(devices)])
            command = [sys.executable, "-m", "labelsync", "sweep", str(self.out / "sweep.yaml")]
            command += ["--only", run.key]
            log_file = logs / f"{run.key}.log"
            try:
                with open(log_file, "w", encoding="utf-8") as sink:
                    code = subprocess.call(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
            finally:
                with lock:
                    slots.append(slot)
            with lock:
                if code:
                    failures[run.key] = f"exit {code} (log: {log_file})"
                if on_done:
                    on_done(run, "failed" if code else "trained")

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, runs))
        return failures

    def save(self) -> Path:
        """``OUT/sweep.yaml``: the resolved sweep, what worker processes read."""
        import yaml

        spec = {
            "out": str(self.out.resolve()),
            "seeds": list(self.seeds),
            "base": self.base,
            "configs": [{"name": name, **overrides} for name, overrides in self.variants],
        }
        path = self.out / "sweep.yaml"
        atomic_write_text(path, yaml.safe_dump(spec, sort_keys=False))
        return path

    # --- summary ----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Per config: overrides, finished seeds, mean ± std of every dev/test metric."""
        return sweep_summary(self)

    def write_summary(self) -> dict[str, Any]:
        """``summary.json``, ``summary.csv`` and ``summary.md`` in ``OUT``."""
        return write_summary(self)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "_", text).strip("_") or "config"


def _expand(configs: Any, grid: Any) -> list[tuple[str, dict[str, Any]]]:
    """Named configs (or one unnamed base) crossed with every point of the grid."""
    named: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(configs or [{"name": "base"}]):
        if not isinstance(entry, dict):
            raise SweepError(f"configs[{i}] must be a mapping with a name and options")
        options = dict(entry)
        name = options.pop("name", None)
        if "seeds" in options or "seed" in options:
            raise SweepError(f"configs[{i}]: seeds belong at the top of the sweep file")
        named.append(
            (_safe_name(str(name)) if name else _safe_name(describe_overrides(options)), options)
        )
    points: list[dict[str, Any]] = [{}]
    if grid:
        if not isinstance(grid, dict):
            raise SweepError("grid must map option names to lists of values")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"grid.{key} must be a non-empty list of values")
            if key in ("seeds", "seed"):
                raise SweepError("seeds belong at the top of the sweep file, not in grid")
        keys = list(grid)
        points = [
            dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())
        ]
    variants = []
    for (name, options), point in itertools.product(named, points):
        label = (
            name
            if not point
            else (
                _safe_name(",".join(f"{k}={v}" for k, v in point.items()))
                if name == "base" and configs is None
                else f"{name}+{_safe_name(','.join(f'{k}={v}' for k, v in point.items()))}"
            )
        )
        variants.append((label, {**options, **point}))
    names = [name for name, _ in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SweepError(f"config name {duplicates[0]!r} is used twice")
    return variants
