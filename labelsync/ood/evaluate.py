"""Open-set evaluation of a trained run: detector scores, dev thresholds, metrics, plots.

For the best (or a given) seed's checkpoint: model outputs on train (for detectors that fit
statistics), dev (thresholds) and the evaluated split; the test split never touches a
threshold. Thresholds go to ``RUN/seed-S/ood/{detector}.json``, where ``Predictor`` reads them.
The kNN bank is saved as safetensors there too (so ``predict`` needs no training data).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_json
from ..errors import LabelsyncError
from .calibrate import apply_threshold, calibrate
from .detectors import get_detector
from .metrics import open_set_metrics, score_metrics

__all__ = ["evaluate_open_set", "ood_dir", "check_detectors", "format_table"]

log = logging.getLogger(__name__)


def ood_dir(run: Any, seed: int) -> Path:
    """Where a seed's thresholds live: ``RUN/seed-S/ood``."""
    return run.seed_dir(seed) / "ood"


def check_detectors(names: list[str], k_plus_1: bool) -> list[Any]:
    """The detectors by name; ``k+1`` on a run trained without the OOS class is an error."""
    detectors = [get_detector(name) for name in names]
    for detector in detectors:
        if detector.k_plus_1_only and not k_plus_1:
            raise LabelsyncError(
                f"detector {detector.name!r} needs a run trained with the out-of-scope class "
                "(--oos-mode class); this run dropped out-of-scope rows"
            )
    return detectors


def evaluate_open_set(
    evaluator: Any,
    detectors: list[str],
    split: str = "test",
    seed: int | None = None,
    *,
    method: str = "recall",
    target_recall: float = 0.95,
    dataset: Any = None,
    out_dir: str | Path | None = "auto",
) -> dict[str, Any]:
    """Scores, dev thresholds and open-set metrics of ``detectors`` on ``split`` of a run.

    ``evaluator``: a ``labelsync.training.Evaluator`` (or a run directory). ``dataset``: the
    ``IntentDataset`` (as loaded) to use instead of the run's data. ``out_dir``: where to write
    ``metrics.json`` and the plots; ``"auto"``: ``RUN/eval-{split}-ood[-seed{S}]``; None: nowhere.
    """
    from ..training.evaluation import Evaluator, eval_dir
    from ..training.metrics import classification_metrics
    from ..training.tasks import require_single_label

    if not isinstance(evaluator, Evaluator):
        evaluator = Evaluator(evaluator)
    require_single_label(evaluator.config.task)  # multi-label / regression runs: one line
    run, acc, k_plus_1 = evaluator.run, evaluator.accelerator, evaluator.k_plus_1
    chosen = check_detectors(detectors, k_plus_1)
    if out_dir == "auto":
        out_dir = eval_dir(run, split, seed, "ood")
    data = evaluator.data(open_set=True, raw=dataset)
    num_known, oos_id = data.num_labels, data.num_labels
    seed, model, tokenizer = evaluator.checkpoint(seed)
    folder = run.model_dir(seed)
    needs_fit = any(d.fit is not None for d in chosen)
    splits = ["train"] * needs_fit + ["dev", split]
    found = evaluator.outputs(model, tokenizer, data, splits, features=True)
    outputs = {name: out.as_dict() for name, out in found.items()}

    def closed(out: dict) -> np.ndarray:  # closed-set prediction over the in-scope classes
        return out["logits"][:, :num_known].argmax(axis=1)

    dev, test = outputs["dev"], outputs[split]
    inside = ~test["is_oos"].astype(bool)
    report: dict[str, Any] = {
        "split": split,
        "seed": seed,
        "checkpoint": str(folder),
        "training": "k+1" if k_plus_1 else "plain",
        "samples": int(len(test["label_id"])),
        "oos_samples": int((~inside).sum()),
        "labels": data.label_names(include_oos=True),
        "closed_set": classification_metrics(test["label_id"][inside], closed(test)[inside])
        if inside.any()
        else {},
        "detectors": {},
    }
    if not dev["is_oos"].any():
        log.warning("the dev split has no out-of-scope rows: thresholds fall back to quantiles")
    for detector in chosen:
        state = detector.fit(outputs["train"], num_known) if detector.fit else {}
        dev_scores = detector.score(dev, state, num_known)
        threshold = calibrate(
            detector.name,
            dev_scores,
            dev["is_oos"],
            method=method,
            target_recall=target_recall,
            labels=dev["label_id"],
            closed=closed(dev),
            oos_id=oos_id,
            native_threshold=detector.native_threshold,
            state=state,
        )
        if acc.is_main_process:
            threshold.save(ood_dir(run, seed))
        scores = detector.score(test, state, num_known)
        predicted = apply_threshold(scores, closed(test), threshold.threshold, oos_id)
        report["detectors"][detector.name] = {
            "threshold": threshold.to_dict() | {"state": sorted(state)},
            **open_set_metrics(test["label_id"], predicted, oos_id),
            **score_metrics(scores, test["is_oos"]),
            "scores": np.round(scores, 6).tolist(),
            "predictions": predicted.tolist(),
        }
    report["gold"] = test["label_id"].tolist()
    if out_dir is not None and acc.is_main_process:
        report["files"] = [str(p) for p in save_open_set(report, Path(out_dir), test["is_oos"])]
    return report


def save_open_set(report: dict[str, Any], folder: Path, is_oos: np.ndarray) -> list[Path]:
    """``metrics.json``, ``roc.png``, and per detector a score histogram and a confusion matrix."""
    from ..training.metrics import confusion
    from ..training.plots import plot_confusion
    from .plots import plot_roc, plot_score_histogram

    names = report["labels"]
    summary = {
        key: value for key, value in report.items() if key not in ("detectors", "gold", "labels")
    }
    summary["detectors"] = {
        name: {k: v for k, v in values.items() if k not in ("scores", "predictions")}
        for name, values in report["detectors"].items()
    }
    written = [atomic_write_json(folder / "metrics.json", summary)]
    curves = {n: (np.asarray(v["scores"]), is_oos) for n, v in report["detectors"].items()}
    written.append(plot_roc(curves, folder / "roc.png"))
    for name, values in report["detectors"].items():
        stem = name.replace("+", "_plus_")
        threshold = values["threshold"]["threshold"]
        title = f"{name}: {report['split']} (seed {report['seed']})"
        written.append(
            plot_score_histogram(
                values["scores"], is_oos, folder / f"hist-{stem}.png", threshold, title
            )
        )
        matrix = confusion(report["gold"], values["predictions"], len(names))
        title = f"{name}: open-set accuracy {values['accuracy']:.3f}"
        written.append(plot_confusion(matrix, names, folder / f"confusion-{stem}.png", title))
    return written


TABLE_COLUMNS = (
    "in_scope_accuracy",
    "oos_recall",
    "oos_precision",
    "f1_oos",
    "f1_is",
    "f1_open",
    "accuracy",
    "auroc",
    "fpr95",
)


TABLE_HEADERS = ("IS acc", "OOS R", "OOS P", "F1-OOS", "F1-IS", "F1 all", "acc", "AUROC", "FPR95")


def format_table(report: dict[str, Any]) -> list[list[str]]:
    """Rows ``[detector, threshold, *TABLE_COLUMNS]`` as strings for a printed table."""
    rows = []
    for name, values in report["detectors"].items():
        cells = [values.get(c) for c in TABLE_COLUMNS]
        rows.append(
            [name, f"{values['threshold']['threshold']:.3g}"]
            + ["-" if c is None else f"{c:.3f}" for c in cells]
        )
    return rows
