"""Evaluation: load a checkpoint, run a model over a split, evaluate a finished run.

The one place that loads a checkpoint with its tokenizer (``load_checkpoint``) and runs a model
over a split on every process (``run_split``, ``gather_for_metrics``: each sample counts once).
``Evaluator`` is a trained run ready to evaluate: its config, labels and data; it writes the
report files (``RUN/eval-{split}[-{inference}][-seed{S}]/``) unless told otherwise. The trainer,
the out-of-scope evaluation (``labelsync.ood``) and ``Predictor`` use these.

Inference modes (``labelsync.inference``: ``softmax``, ``knn``, ``interpolate``) plug in here:
``Evaluator.knn_state`` gives a mode its kNN bank, the classifier inputs (``features``) of the
run's training split for that checkpoint, loaded from ``RUN/seed-S/knn/`` when it was built
from the same weights, else built now and saved there, and the interpolation weight, chosen on
dev once and kept in the bank's ``bank.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..inference.bank import BankError, FeatureBank, file_sha256
from ..inference.modes import KnnSettings, KnnState, choose_weight, get_inference
from .arguments import TrainConfig
from .runs import CONFIG_FILE, DESCRIPTIONS_FILE, RunDir, RunError

__all__ = ["load_checkpoint", "run_split", "SplitOutputs", "Evaluator", "eval_dir", "KNN_DIR"]

KNN_DIR = "knn"  # RUN/seed-S/knn: the kNN bank of that seed's best checkpoint
BANK_REPRESENTATION = "features"  # the classifier input: what the classifier and LGCL see

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

    def knn_state(
        self,
        inference: str,
        seed: int | None = None,
        settings: KnnSettings | None = None,
        *,
        loaded: tuple[Any, Any] | None = None,
        splits: tuple[str, ...] = (),
    ) -> tuple[KnnState | None, dict[str, SplitOutputs]]:
        """The kNN state mode ``inference`` needs for a seed's checkpoint (None for ``softmax``),
        and the outputs of ``splits`` (features included) computed in the same pass.

        The bank comes from ``RUN/seed-S/knn`` when its checkpoint sha256 is this checkpoint's,
        else it is built from the training split now and saved (main process); ``interpolate``
        reuses the dev-chosen weight saved with the bank for the same k and tau, else chooses
        it on dev now. ``loaded``: the ``(model, tokenizer)`` of the checkpoint, if at hand.
        """
        mode, settings = get_inference(inference), settings or KnnSettings()
        if mode.needs_bank:
            from .tasks import require_single_label

            require_single_label(self.config.model.task, f"{mode.name} inference")
        seed = self.run.best_seed() if seed is None else seed
        if not mode.needs_bank:
            if not splits:
                return None, {}
            model, tokenizer = loaded or self.checkpoint(seed)[1:]
            return None, self.outputs(model, tokenizer, self.data(), list(splits), features=False)
        folder = self.run.seed_dir(seed) / KNN_DIR
        checkpoint = file_sha256(self.run.model_dir(seed) / "model.safetensors")
        try:
            bank = FeatureBank.load(folder, checkpoint)
        except BankError as exc:
            if folder.exists():
                log.warning("%s; rebuilding it", exc)
            bank = None
        weight = settings.weight
        if mode.needs_weight and weight is None and bank is not None:
            weight = _saved_weight(bank, settings)
        need = list(splits) + ["train"] * (bank is None)
        need += ["dev"] * (mode.needs_weight and weight is None)
        found: dict[str, SplitOutputs] = {}
        if need:
            model, tokenizer = loaded or self.checkpoint(seed)[1:]
            found = self.outputs(model, tokenizer, self.data(), need, features=True)
        rebuilt, chosen = bank is None, False
        if bank is None:
            train = found["train"]
            bank = FeatureBank.build(
                train.extra[BANK_REPRESENTATION],
                train.label_id,
                train.logits.shape[1],
                checkpoint=checkpoint,
                representation=BANK_REPRESENTATION,
                split="train",
                dataset=self.config.dataset,
            )
            log.info("built the kNN bank of %s: %d training rows", folder.parent.name, len(bank))
        if mode.needs_weight and weight is None:
            dev = found["dev"]
            knn = bank.probabilities(dev.extra[BANK_REPRESENTATION], settings.k, settings.tau)
            weight, scores = choose_weight(dev.logits, knn, dev.label_id)
            bank.meta["interpolation"] = {
                "k": settings.k, "tau": settings.tau, "weight": weight, "dev_accuracy": scores
            }  # fmt: skip
            chosen = True
        if self.accelerator.is_main_process and rebuilt:
            bank.save(folder)
        elif self.accelerator.is_main_process and chosen:
            bank.save_meta(folder)
        return KnnState(bank, settings, weight), {s: found[s] for s in splits}

    def evaluate(
        self,
        split: str = "test",
        seed: int | None = None,
        *,
        save: bool = True,
        inference: str = "softmax",
        knn: KnnSettings | None = None,
    ) -> dict[str, Any]:
        """Metrics, per-class rows and confusion matrix of a seed's best checkpoint on ``split``;
        with ``save`` (main process) also ``metrics.json``, the confusion matrix PNG and the
        per-class tables in ``eval_dir`` (their paths under ``"files"``). ``inference``: how
        outputs become predictions (``labelsync.inference``: softmax, knn, interpolate)."""
        from .metrics import classification_metrics, confusion, per_class_metrics
        from .runs import save_evaluation

        mode = get_inference(inference)
        what = "" if mode.name == "softmax" else mode.name
        folder = eval_dir(self.run, split, seed, what)
        seed, model, tokenizer = self.checkpoint(seed)
        if model.config.task != "single_label":  # multi-label / regression (training/tasks.py)
            if mode.name != "softmax":
                from .tasks import require_single_label

                require_single_label(model.config.task, f"{mode.name} inference")
            return self._task_report(model, tokenizer, split, seed, folder, save)
        state, found = self.knn_state(
            mode.name, seed, knn, loaded=(model, tokenizer), splits=(split,)
        )
        out = found[split]
        probs = mode.probabilities(out.logits, out.extra.get(BANK_REPRESENTATION), state)
        predictions = probs.argmax(axis=1)
        report = {
            "split": split,
            "seed": seed,
            "checkpoint": str(self.run.model_dir(seed)),
            "inference": {"mode": mode.name} | ({} if state is None else state.describe()),
            "samples": len(out),
            "loss": out.loss,
            "metrics": classification_metrics(out.label_id, predictions),
            "per_class": per_class_metrics(out.label_id, predictions, self.label_names),
            "confusion": confusion(out.label_id, predictions, len(self.label_names)).tolist(),
        }
        if save and self.accelerator.is_main_process:
            report["files"] = [str(p) for p in save_evaluation(report, folder, self.label_names)]
        return report

    def _task_report(
        self, model: Any, tokenizer: Any, split: str, seed: int, folder: Any, save: bool
    ) -> dict[str, Any]:
        """``evaluate`` of a multi-label or regression run: the task's metrics (``tasks.py``)."""
        from .runs import save_evaluation
        from .tasks import task_report

        out = self.outputs(model, tokenizer, self.data(), [split], features=False)[split]
        report = {"split": split, "seed": seed, "checkpoint": str(self.run.model_dir(seed))}
        report |= {"samples": len(out), "loss": out.loss, **task_report(model.config, out)}
        if save and self.accelerator.is_main_process:
            report["files"] = [str(p) for p in save_evaluation(report, folder, self.label_names)]
        return report


def _saved_weight(bank: FeatureBank, settings: KnnSettings) -> float | None:
    """The interpolation weight saved with ``bank`` for the same k and tau, if any."""
    saved = bank.meta.get("interpolation") or {}
    if saved.get("k") == settings.k and saved.get("tau") == settings.tau:
        return float(saved["weight"])
    return None
