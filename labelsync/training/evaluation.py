"""Evaluation: load a checkpoint, run a model over a split, evaluate a finished run.

The one place that loads a checkpoint with its tokenizer (``load_checkpoint``) and runs a model
over a split on every process (``run_split``, ``gather_for_metrics``: each sample counts once).
``Evaluator`` is a trained run ready to evaluate: its config, labels and data; it writes the
report files (``RUN/eval-{split}[-seed{S}]/``) unless told otherwise. The trainer, the
out-of-scope evaluation (``labelsync.ood``) and ``Predictor`` use these.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import TrainConfig
from .runs import CONFIG_FILE, DESCRIPTIONS_FILE, RunDir, RunError

__all__ = ["load_checkpoint", "run_split", "SplitOutputs", "Evaluator", "eval_dir"]

log = logging.getLogger(__name__)


def load_checkpoint(folder: str | Path, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a ``save_pretrained`` folder; a broken one is a ``RunError``."""
    from transformers import AutoTokenizer

    from ..model.modeling import ENCODER_DIR, IntentModel

    folder = Path(folder)
    if not (folder / ENCODER_DIR / "tokenizer_config.json").is_file():
        raise RunError(f"{folder}: no tokenizer saved with the model ({ENCODER_DIR}/)")
    try:
        model = IntentModel.from_pretrained(folder, device=device)
        tokenizer = AutoTokenizer.from_pretrained(str(folder / ENCODER_DIR))
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise RunError(f"{folder}: cannot load the model ({first.strip()})") from None
    return model, tokenizer


@dataclass
class SplitOutputs:
    """A model's outputs over a split, in loader order (every process's samples gathered)."""

    logits: np.ndarray  # [N, classes]
    label_id: np.ndarray  # [N]
    is_oos: np.ndarray  # [N]
    loss: float  # each loss term averaged over the samples that take part, summed
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # features, description_scores

    def as_dict(self) -> dict[str, np.ndarray]:
        """What the out-of-scope detectors read (``labelsync.ood.detectors``)."""
        return {
            "logits": self.logits,
            "label_id": self.label_id,
            "is_oos": self.is_oos,
        } | self.extra

    def __len__(self) -> int:
        return len(self.label_id)


def run_split(model: Any, loader: Any, accelerator: Any, *, features: bool = False) -> SplitOutputs:
    """Run a prepared ``model`` over a prepared ``loader`` on every process.

    ``features``: also gather the classifier input and the description cosines of ``T_f``.
    """
    import torch

    from ..model.tasks import multi_hot

    model.eval()
    inner = accelerator.unwrap_model(model, keep_torch_compile=False)
    parts: dict[str, list[Any]] = {}
    with torch.no_grad():
        for batch in loader:
            out = model(batch)
            values = {
                "logits": out.logits.float(),
                "label_id": batch["label_id"],
                "is_oos": batch["is_oos"],
                "terms": out.sample_terms.double(),
            }
            if batch.get("label_ids") is not None:  # multi-label targets, [B, K] on every rank
                values["targets"] = multi_hot(batch["label_ids"], inner.config.num_labels)
            if batch.get("score") is not None:  # regression targets
                values["score"] = batch["score"].float()
            if features:
                values["features"] = out.features.float()
                if out.semantic_token is not None and inner.has_descriptions:
                    scores = inner.description_scores(out.semantic_token.float())
                    values["description_scores"] = scores
            # padding duplicates of the last batch are dropped: every sample counts once
            for name, value in accelerator.gather_for_metrics(values).items():
                parts.setdefault(name, []).append(value.cpu())
    joined = {name: torch.cat(chunks) for name, chunks in parts.items()}
    terms = joined.pop("terms")
    taking_part = (~terms.isnan()).sum(dim=0)
    loss = float((terms.nan_to_num(0.0).sum(dim=0) / taking_part.clamp_min(1)).sum())
    arrays = {name: value.numpy() for name, value in joined.items()}
    return SplitOutputs(
        logits=arrays.pop("logits"),
        label_id=arrays.pop("label_id"),
        is_oos=arrays.pop("is_oos"),
        loss=round(loss, 6),
        extra=arrays,
    )


def eval_dir(run: RunDir, split: str, seed: int | None, what: str = "") -> Path:
    """Where an evaluation's files go: ``RUN/eval-{split}[-{what}][-seed{S}]``."""
    name = f"eval-{split}" + (f"-{what}" if what else "")
    return run.root / (name if seed is None else f"{name}-seed{seed}")


class Evaluator:
    """A trained run with its config, descriptions, labels and data, ready to evaluate.

    ``dataset``/``data_dir``/``video_feats``/``audio_feats`` point it at moved data or another
    dataset with the same labels.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        dataset: str | None = None,
        data_dir: str | None = None,
        video_feats: str | None = None,
        audio_feats: str | None = None,
        accelerator: Any = None,
    ):
        from .accelerator import make_accelerator

        self.run = RunDir(Path(run_dir))
        self.run.require(CONFIG_FILE, DESCRIPTIONS_FILE)
        config = TrainConfig.from_yaml(self.run.root / CONFIG_FILE)
        changes = {"dataset": dataset, "data_dir": data_dir}
        changes |= {"video_feats": video_feats, "audio_feats": audio_feats}
        self.config = config.replace(**{k: v for k, v in changes.items() if v is not None})
        self.descriptions = self.run.descriptions()  # none for a regression run
        self.accelerator = accelerator if accelerator is not None else make_accelerator(config)
        self.label_names = list(self.run.info()["labels"])
        self._raw: Any = None

    @property
    def k_plus_1(self) -> bool:
        """Whether the run was trained with out-of-scope as class K."""
        return self.config.oos_mode == "class"

    def data(self, *, open_set: bool = False, raw: Any = None) -> Any:
        """The run's dataset as trained (``open_set``: out-of-scope rows kept in dev/test);
        ``raw``: another loaded ``IntentDataset`` to prepare the same way (checked against the
        run's labels and feature widths)."""
        from .inputs import load_raw_data, prepare_data

        if raw is None:
            if self._raw is None:
                self._raw = load_raw_data(self.config)
            raw = self._raw
        dataset, _ = prepare_data(self.config, raw, open_set=open_set)
        self.check_data(dataset)
        return dataset

    def check_data(self, dataset: Any) -> None:
        """A prepared dataset must have the run's labels and feature widths."""
        from .tasks import run_label_names

        source = f"dataset {self.config.dataset!r}"
        self.run.check_labels(run_label_names(self.config, dataset), source)
        dims = {} if self.config.text_only else dict(dataset.feature_dims)
        trained = self.run.info().get("feature_dims", {})
        if dims != trained:
            raise RunError(
                f"{source} has feature dims {dims or 'none'} but run {self.run.root} was "
                f"trained on {trained or 'none'}"
            )

    def checkpoint(self, seed: int | None = None) -> tuple[int, Any, Any]:
        """``(seed, model, tokenizer)`` of a seed's best checkpoint (default: best dev seed)."""
        seed = self.run.best_seed() if seed is None else seed
        folder = self.run.model_dir(seed)
        model, tokenizer = load_checkpoint(folder)
        self.run.check_labels(model.config.label_names, f"checkpoint {folder}")
        return seed, model, tokenizer

    def outputs(
        self, model: Any, tokenizer: Any, dataset: Any, splits: list[str], *, features: bool
    ) -> dict[str, SplitOutputs]:
        """``run_split`` of ``model`` over each of ``splits`` of ``dataset``."""
        from .inputs import make_loader

        acc = self.accelerator
        prepared = acc.prepare(model)
        results = {}
        for split in dict.fromkeys(splits):
            loader = acc.prepare(make_loader(self.config, dataset, split, tokenizer))
            results[split] = run_split(prepared, loader, acc, features=features)
        acc.free_memory()
        return results

    def evaluate(
        self, split: str = "test", seed: int | None = None, *, save: bool = True
    ) -> dict[str, Any]:
        """Metrics, per-class rows and confusion matrix of a seed's best checkpoint on ``split``;
        with ``save`` (main process) also ``metrics.json``, the confusion matrix PNG and the
        per-class tables in ``eval_dir`` (their paths under ``"files"``)."""
        from .metrics import classification_metrics, confusion, per_class_metrics
        from .runs import save_evaluation

        folder = eval_dir(self.run, split, seed)
        seed, model, tokenizer = self.checkpoint(seed)
        out = self.outputs(model, tokenizer, self.data(), [split], features=False)[split]
        if model.config.task != "single_label":  # multi-label / regression (training/tasks.py)
            from .tasks import task_report

            report = {"split": split, "seed": seed, "checkpoint": str(self.run.model_dir(seed))}
            report |= {"samples": len(out), "loss": out.loss, **task_report(model.config, out)}
            if save and self.accelerator.is_main_process:
                files = save_evaluation(report, folder, self.label_names)
                report["files"] = [str(p) for p in files]
            return report
        predictions = out.logits.argmax(axis=1)
        report = {
            "split": split,
            "seed": seed,
            "checkpoint": str(self.run.model_dir(seed)),
            "samples": len(out),
            "loss": out.loss,
            "metrics": classification_metrics(out.label_id, predictions),
            "per_class": per_class_metrics(out.label_id, predictions, self.label_names),
            "confusion": confusion(out.label_id, predictions, len(self.label_names)).tolist(),
        }
        if save and self.accelerator.is_main_process:
            report["files"] = [str(p) for p in save_evaluation(report, folder, self.label_names)]
        return report
