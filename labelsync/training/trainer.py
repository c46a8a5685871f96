"""``Trainer``: the one training loop (accelerate: CPU, one GPU or many, same code path).

Per seed: seed everything -> build ``AMessModel`` (description embeddings from the label store)
-> AdamW + linear warmup -> epochs of train steps (gradient clipping, NaN guard) -> dev metrics
(``gather_for_metrics``) -> best checkpoint on improvement, resume state after every epoch, early
stopping after ``patience`` epochs without improvement -> test metrics of the best checkpoint.
Only the main process writes files. A method is a loss, module or config switch of the model,
never another loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import LabelsyncError
from .accelerator import make_accelerator, progress_bars
from .arguments import TrainConfig
from .evaluation import run_split
from .inputs import (
    build_model,
    description_matrix,
    load_training_data,
    make_loader,
    make_optimizer,
    resolve_descriptions,
)
from .runs import CURVES_FILE, RunDir, RunError, capture_log
from .task_metrics import is_better, worst_value
from .tasks import run_label_names, score_outputs

__all__ = ["Trainer", "EpochResult", "TrainingError"]

log = logging.getLogger(__name__)

# the description of the extra class of K+1 training (SS and label attention need one per class)
OOS_DESCRIPTION = "A request that none of the supported intents covers."


class TrainingError(LabelsyncError):
    """Training cannot go on (e.g. the loss became NaN); the message says what was kept."""


@dataclass
class EpochResult:
    """What callbacks receive after every finished (and saved) epoch."""

    seed: int
    epoch: int
    train_loss: float
    dev_loss: float
    dev: dict[str, float]
    improved: bool
    stats: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Trains ``config.seeds`` into a run directory; ``Trainer.resume(run)`` continues one."""

    def __init__(
        self,
        config: TrainConfig,
        output_dir: str | Path,
        *,
        dataset: Any = None,
        descriptions: Any = None,
        callbacks: Sequence[Callable[[EpochResult], None]] = (),
        accelerator: Any = None,
        _resuming: bool = False,
    ):
        self.config = config
        self.run = RunDir(Path(output_dir))
        self.callbacks = list(callbacks)
        self.resuming = _resuming
        self.accelerator = accelerator if accelerator is not None else make_accelerator(config)
        if not _resuming:
            self.run.check_new()  # every process checks before the main one writes (barrier)
        self.accelerator.wait_for_everyone()
        self.dataset, self.dropped = load_training_data(config, dataset)
        self._check_world_size()
        self.feature_dims = {} if config.text_only else dict(self.dataset.feature_dims)
        k_plus_1 = config.oos_mode == "class"  # out-of-scope is class K (MIntRec2.0)
        self.label_names = run_label_names(config, self.dataset)  # regression: the score's name
        if descriptions is None:
            # rank 0 generates (and caches) missing descriptions; the others then read the cache
            with self.accelerator.main_process_first():
                descriptions = resolve_descriptions(config, self.dataset)
        self.descriptions = descriptions
        if k_plus_1 and self.dataset.oos_label not in self.descriptions:
            from ..descriptions import LabelDescriptions

            self.descriptions.add(
                LabelDescriptions(self.dataset.oos_label, [OOS_DESCRIPTION], source="user")
            )
        self._matrix: Any = None

    def _check_world_size(self) -> None:
        """Every split needs a sample per process (else a rank would only see padding)."""
        processes = self.accelerator.num_processes
        for split, rows in self.dataset.splits.items():
            if len(rows) < processes:
                raise TrainingError(
                    f"the {split} split of {self.dataset.name} has {len(rows)} sample(s), fewer "
                    f"than the {processes} processes launched; launch at most {len(rows)}"
                )

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        *,
        dataset: str | None = None,
        data_dir: str | None = None,
        video_feats: str | None = None,
        audio_feats: str | None = None,
        callbacks: Sequence[Callable[[EpochResult], None]] = (),
    ) -> Trainer:
        """A trainer over an existing run (its config and descriptions; data may be moved)."""
        from .runs import CONFIG_FILE, DESCRIPTIONS_FILE

        run = RunDir(Path(run_dir))
        run.require(CONFIG_FILE, DESCRIPTIONS_FILE)
        config = TrainConfig.from_yaml(run.root / CONFIG_FILE)
        changes = {"dataset": dataset, "data_dir": data_dir}
        changes |= {"video_feats": video_feats, "audio_feats": audio_feats}
        config = config.replace(**{k: v for k, v in changes.items() if v is not None})
        descriptions = run.descriptions()  # none for a regression run
        trainer = cls(
            config, run.root, descriptions=descriptions, callbacks=callbacks, _resuming=True
        )
        source = f"dataset {config.dataset!r}"
        run.check_labels(trainer.label_names, source)
        if trainer.feature_dims != run.info().get("feature_dims", {}):
            raise RunError(
                f"{source} has feature dims {trainer.feature_dims or 'none'} but run "
                f"{run.root} was trained on {run.info().get('feature_dims') or 'none'}"
            )
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, **kwargs: Any) -> Trainer:
        """``from_run`` for a run that is not finished yet (else a ``RunError``).

        The process count must be the one the run started with: it sets the global batch, the
        sharding of every epoch and the scheduler's step count.
        """
        RunDir(Path(run_dir)).check_resumable()
        trainer = cls.from_run(run_dir, **kwargs)
        started = trainer.run.info().get("num_processes", 1)
        now = trainer.accelerator.num_processes
        if started != now:
            raise RunError(
                f"{trainer.run.root} was trained with {started} process(es) but this resume has "
                f"{now}; relaunch with --num_processes {started}"
            )
        return trainer

    # --- the run ----------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        """Train every seed not finished yet; returns the mean ± std summary."""
        acc, run = self.accelerator, self.run
        if acc.is_main_process and not self.resuming:
            from ..media.settings import descriptions_of

            record = {} if self.config.text_only else self.dataset.feature_record()
            self.run.start(
                self.config,
                self.descriptions,
                dataset=self.dataset.name,
                source=self.dataset.source,
                labels=self.label_names,
                feature_dims=self.feature_dims,
                features=record,
                extractors=descriptions_of(record),
                dropped_oos=self.dropped,
                num_processes=acc.num_processes,
            )
        acc.wait_for_everyone()
        with capture_log(run.log_path) if acc.is_main_process else nullcontext():
            log.info(
                "%s run %s on %s (%d process%s, %s precision): %d labels, %s",
                "resuming" if self.resuming else "starting",
                run.root,
                acc.device,
                acc.num_processes,
                "es" if acc.num_processes > 1 else "",
                acc.mixed_precision,
                len(self.label_names),
                self.dataset,
            )
            per_seed = {}
            for seed in self.config.seeds:
                if run.metrics_path(seed).is_file():
                    log.info("seed %d already finished", seed)
                    per_seed[seed] = run.seed_metrics(seed)
                    continue
                per_seed[seed] = self._train_seed(seed)
            summary = {}
            if acc.is_main_process:
                summary = run.write_results(per_seed, self.config.metric)
                run.update_info(finished=True)
                log.info("finished run %s", run.root)
        return summary

    # --- building blocks --------------------------------------------------------------------

    def description_matrix(self) -> tuple[Any, Any]:
        """``[K, n, D]`` description embeddings + mask from a label store (computed once)."""
        if self._matrix is None:
            self._matrix = description_matrix(self.config, self.descriptions, self.label_names)
        return self._matrix

    def build_model(self) -> Any:
        """A fresh ``AMessModel`` for this dataset (call after seeding)."""
        matrix, mask = self.description_matrix()
        return build_model(
            self.config, self.label_names, self.feature_dims, matrix, mask, self.dataset.max_lengths
        )

    def loader(self, split: str, tokenizer: Any, *, seed: int | None = None) -> Any:
        """A DataLoader over ``split``: shuffled with a seeded generator when ``seed`` is given."""
        return make_loader(self.config, self.dataset, split, tokenizer, seed=seed)

    # --- one seed ---------------------------------------------------------------------------

    def _train_seed(self, seed: int) -> dict[str, Any]:
        from accelerate.utils import set_seed
        from transformers import AutoTokenizer

        from ..offline import resolve_model_path

        cfg, acc, run = self.config, self.accelerator, self.run
        set_seed(seed, deterministic=cfg.full_determinism)
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(cfg.encoder))
        model = self.build_model()
        train_loader = self.loader("train", tokenizer, seed=seed)
        optimizer, scheduler = make_optimizer(cfg, model, len(train_loader))
        model, optimizer, train_loader, dev_loader, scheduler = acc.prepare(
            model, optimizer, train_loader, self.loader("dev", tokenizer), scheduler
        )
        parts = (acc.unwrap_model(model, keep_torch_compile=False), optimizer, scheduler)
        state = {"epoch": 0, "best_metric": worst_value(cfg.metric), "best_epoch": 0}
        state |= {"bad_epochs": 0, "history": []}
        if self.resuming and run.has_resume_state(seed):
            saved = run.load_resume_state(seed, *parts, scaler=acc.scaler)
            state = {key: saved[key] for key in state}
            log.info("seed %d: resumed after epoch %d", seed, state["epoch"])
        started = time.perf_counter()
        show = self.config.progress and self.accelerator.is_main_process
        with progress_bars(show) as progress:
            epochs = progress.add_task(f"seed {seed}", total=cfg.epochs, completed=state["epoch"])
            steps = progress.add_task("steps", total=len(train_loader))
            while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
                epoch = state["epoch"] + 1
                train_loader.set_epoch(epoch)  # the seedable sampler shuffles by seed + epoch
                progress.reset(steps, total=len(train_loader), description=f"epoch {epoch}")
                stats = self._train_epoch(
                    model,
                    optimizer,
                    scheduler,
                    train_loader,
                    (seed, epoch, state),
                    lambda: progress.advance(steps),
                )
                fixed = None if cfg.threshold is None else [cfg.threshold] * len(self.label_names)
                dev, thresholds, dev_loss, dev_samples = self._score(model, dev_loader, fixed)
                improved = is_better(cfg.metric, dev[cfg.metric], state["best_metric"])
                if improved:
                    state.update(best_metric=dev[cfg.metric], best_epoch=epoch, bad_epochs=0)
                    parts[0].config.thresholds = thresholds  # multi-label: chosen on dev
                    if acc.is_main_process:
                        parts[0].save_pretrained(run.best_dir(seed), tokenizer=tokenizer)
                else:
                    state["bad_epochs"] += 1
                loss = stats.pop("loss")
                lr = scheduler.get_last_lr()[0]
                row = {"epoch": epoch, "train_loss": loss, "dev_loss": dev_loss, "dev": dev}
                state["history"].append({**row, "lr": lr, "dev_samples": dev_samples, **stats})
                state["epoch"] = epoch
                if acc.is_main_process:
                    run.save_resume_state(seed, *parts, state, scaler=acc.scaler)
                acc.wait_for_everyone()
                log.info(
                    "seed %d epoch %d: train loss %.4f, dev loss %.4f, dev %s %.4f%s",
                    seed,
                    epoch,
                    loss,
                    dev_loss,
                    cfg.metric,
                    dev[cfg.metric],
                    " (best)" if improved else "",
                )
                progress.advance(epochs)
                for callback in self.callbacks:
                    callback(EpochResult(seed, epoch, loss, dev_loss, dev, improved, stats))
        if state["bad_epochs"] >= cfg.patience:
            log.info("seed %d: early stop after epoch %d", seed, state["epoch"])
        return self._finish_seed(seed, model, tokenizer, state, time.perf_counter() - started)

    def _train_epoch(self, model, optimizer, scheduler, loader, where, tick) -> dict[str, float]:
        """One pass over ``loader``; mean loss parts. ``where`` = (seed, epoch, state)."""
        acc, cfg = self.accelerator, self.config
        model.train()
        sums: dict[str, float] = {}
        count = 0
        for step, batch in enumerate(loader, start=1):
            with acc.accumulate(model):
                out = model(batch)
                finite = acc.gather(torch.isfinite(out.loss.detach()).reshape(1))
                if not bool(finite.all()):
                    self._nan_stop(*where, step, out.loss)
                acc.backward(out.loss)
                if acc.sync_gradients and cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            size = len(batch["label_id"])
            count += size
            for name, value in {"loss": out.loss.detach(), **out.loss_parts}.items():
                sums[name] = sums.get(name, 0.0) + float(value) * size
            tick()
        # sample-weighted means over every process's shard
        names = sorted(sums)
        totals = torch.tensor([count, *(sums[n] for n in names)], dtype=torch.float64)
        totals = acc.reduce(totals.to(acc.device), reduction="sum").cpu()
        return {n: float(totals[i + 1] / totals[0].clamp_min(1)) for i, n in enumerate(names)}

    def _nan_stop(self, seed: int, epoch: int, state: dict, step: int, loss: Any) -> None:
        kept = (
            f"the last good state (epoch {state['epoch']}) is kept in {self.run.resume_dir(seed)} "
            f"and the best checkpoint in {self.run.best_dir(seed)}"
            if state["epoch"]
            else "no epoch had finished, so there is no checkpoint"
        )
        raise TrainingError(
            f"seed {seed}: the loss became {float(loss.detach())} at epoch "
            f"{epoch}, step {step}; training stopped ({kept}); try a lower "
            "learning rate or check the inputs"
        )

    def _score(self, model: Any, loader: Any, thresholds: Any = None) -> tuple:
        """Metrics, thresholds (multi-label; chosen here when None), mean loss and sample count
        of ``model`` on a prepared loader."""
        out = run_split(model, loader, self.accelerator)
        metrics, thresholds = score_outputs(self.config.task, out, thresholds)
        return metrics, thresholds, out.loss, len(out)

    def _finish_seed(self, seed, model, tokenizer, state, seconds) -> dict[str, Any]:
        from safetensors.torch import load_file

        from .._io import atomic_write_json
        from ..model.configuration import ModelConfig
        from .plots import plot_curves

        acc, run = self.accelerator, self.run
        acc.wait_for_everyone()
        best = load_file(str(run.best_dir(seed) / "model.safetensors"))
        acc.unwrap_model(model, keep_torch_compile=False).load_state_dict(best, strict=True)
        thresholds = ModelConfig.load(run.best_dir(seed)).thresholds  # the best epoch's, on dev
        test, _, test_loss, test_samples = self._score(
            model, acc.prepare(self.loader("test", tokenizer)), thresholds
        )
        history = state["history"]
        metrics = {
            "seed": seed,
            "metric": self.config.metric,
            "best_epoch": state["best_epoch"],
            "best_dev_metric": state["best_metric"],
            "epochs_run": state["epoch"],
            "stopped_early": state["bad_epochs"] >= self.config.patience,
            "dev": history[state["best_epoch"] - 1]["dev"],
            "test": test,
            "test_loss": test_loss,
            # every sample once, whatever the number of processes (gather_for_metrics)
            "samples": {"dev": history[-1].get("dev_samples"), "test": test_samples},
            "num_processes": acc.num_processes,
            "train_seconds": round(seconds, 2),
            "history": history,
        }
        if thresholds is not None:
            metrics["thresholds"] = dict(zip(self.label_names, thresholds, strict=True))
        if acc.is_main_process:
            atomic_write_json(run.metrics_path(seed), metrics)
            plot_curves(history, self.config.metric, run.seed_dir(seed) / CURVES_FILE)
        shown = dict.fromkeys((self.config.metric, "accuracy"))
        values = ", ".join(f"{name} {test[name]:.4f}" for name in shown if name in test)
        log.info("seed %d: test %s (best epoch %d)", seed, values, state["best_epoch"])
        acc.free_memory()
        return metrics
