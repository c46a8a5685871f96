"""``labelsync evaluate`` and ``predict``: a trained run's metrics, and labels for new inputs.

Thin commands over ``labelsync.training.Evaluator``, ``labelsync.ood.evaluate_open_set`` and
``labelsync.Predictor``; heavy libraries load inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import app
from .render import stderr_console, stdout_console


def _say(text: str) -> None:
    stdout_console().print(text, soft_wrap=True, markup=False, highlight=False)


@app.command("evaluate", epilog="Example:\n\n  labelsync evaluate runs/mintrec --split test")
def evaluate_command(
    run: Path = typer.Argument(..., help="Run directory written by `labelsync train`."),
    split: str = typer.Option("test", "--split", help="train, dev or test."),
    seed: int = typer.Option(None, "--seed", help="Checkpoint of this seed (default: best dev)."),
    data_dir: Path = typer.Option(None, "--data-dir", "-d", help="Where the data is now."),
    dataset: str = typer.Option(
        None, "--dataset", help="Evaluate on another dataset with the same labels."
    ),
    video_feats: Path = typer.Option(
        None, "--video-feats", help="Where the video features are now."
    ),
    audio_feats: Path = typer.Option(
        None, "--audio-feats", help="Where the audio features are now."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    oos_detector: list[str] = typer.Option(
        None,
        "--oos-detector",
        help="Out-of-scope detector(s): msp, maxlogit, energy, doc, desc, knn, k+1 "
        "(repeatable or comma-separated); thresholds come from dev and are saved with the run.",
    ),
    threshold_by: str = typer.Option(
        "recall", "--threshold-by", help="recall (target in-scope recall on dev) or best_f1."
    ),
    target_recall: float = typer.Option(
        0.95, "--target-recall", min=0.01, max=1.0, help="In-scope recall kept on dev."
    ),
) -> None:
    """Metrics JSON, confusion matrix PNG and per-class table of a run's best checkpoint."""
    from rich.table import Table

    from ..training.evaluation import Evaluator

    moved = {"video_feats": video_feats, "audio_feats": audio_feats, "data_dir": data_dir}
    evaluator = Evaluator(
        run, dataset=dataset, **{k: str(v.resolve()) for k, v in moved.items() if v is not None}
    )
    if oos_detector:
        names = [n.strip() for value in oos_detector for n in value.split(",") if n.strip()]
        _evaluate_ood(evaluator, names, split, seed, threshold_by, target_recall, as_json)
        return
    with stderr_console().status(f"evaluating {run} on {split}"):
        report = evaluator.evaluate(split, seed)
    if not evaluator.accelerator.is_main_process:  # under a launcher: rank 0 writes and prints
        return
    written = report["files"]
    if as_json:
        typer.echo(json.dumps(report["metrics"], indent=2))
    elif report["per_class"]:  # regression runs have no classes
        table = Table(title=f"{split} per class (seed {report['seed']})", title_justify="left")
        for column in ("label", "precision", "recall", "f1", "support"):
            table.add_column(column)
        for row in report["per_class"]:
            table.add_row(*(str(row[c]) for c in ("label", "precision", "recall", "f1", "support")))
        stdout_console().print(table)
    if not as_json:
        _say(", ".join(f"{name} {value:.4f}" for name, value in report["metrics"].items()))
    done = f"wrote {', '.join(written)}"
    if as_json:  # stdout stays one JSON document
        stderr_console().print(done, soft_wrap=True, markup=False, highlight=False)
    else:
        _say(done)


def _evaluate_ood(evaluator, names, split, seed, method, target_recall, as_json) -> None:
    from rich.table import Table

    from ..ood.calibrate import METHODS
    from ..ood.evaluate import TABLE_HEADERS, check_detectors, evaluate_open_set, format_table
    from ..training.evaluation import eval_dir
    from ..training.tasks import require_single_label

    require_single_label(evaluator.config.task)  # one line for multi-label / regression runs
    check_detectors(names, evaluator.k_plus_1)  # fail before loading a model
    if method not in METHODS:
        raise typer.BadParameter(
            f"must be one of {', '.join(METHODS)}, got {method!r}", param_hint="--threshold-by"
        )
    folder = eval_dir(evaluator.run, split, seed, "ood")
    with stderr_console().status(f"scoring {evaluator.run.root} on {split}: {', '.join(names)}"):
        report = evaluate_open_set(
            evaluator,
            names,
            split,
            seed,
            method=method,
            target_recall=target_recall,
            out_dir=folder,
        )
    if not evaluator.accelerator.is_main_process:
        return
    if as_json:
        keep = ("scores", "predictions")
        detectors = {
            n: {k: v for k, v in d.items() if k not in keep} for n, d in report["detectors"].items()
        }
        typer.echo(json.dumps({"closed_set": report["closed_set"], "detectors": detectors}))
    else:
        title = (
            f"{split}: {report['samples']} rows ({report['oos_samples']} out of scope), "
            f"seed {report['seed']}, {report['training']} training, thresholds from dev"
        )
        table = Table(title=title, title_justify="left")
        for column in ("detector", "threshold", *TABLE_HEADERS):
            table.add_column(column, no_wrap=True)
        for row in format_table(report):
            table.add_row(*row)
        from rich.console import Console

        # a wide console: eleven columns do not fit the 80 a pipe gets
        Console(highlight=False, width=max(stdout_console().width, 130)).print(table)
        closed = report["closed_set"]
        if closed:
            _say(
                f"closed set (in-scope rows): accuracy {closed['accuracy']:.4f}, "
                f"macro F1 {closed['macro_f1']:.4f}"
            )
    done = f"wrote {folder} (metrics.json, roc.png, hist-*.png, confusion-*.png)"
    if as_json:  # stdout stays one JSON document
        stderr_console().print(done, soft_wrap=True, markup=False, highlight=False)
    else:
        _say(done)


@app.command(
    "predict",
    epilog="Example:\n\n  labelsync predict runs/mintrec --text 'sorry, my fault' "
    "--video v.npy --audio a.npy",
)
def predict_command(
    run: Path = typer.Argument(..., help="Run directory written by `labelsync train`."),
    text: list[str] = typer.Option(..., "--text", "-t", help="Text to classify (repeatable)."),
    video: list[Path] = typer.Option(
        None,
        "--video",
        help="Per --text: video features (.npy/.npz/.safetensors) or a raw clip (.mp4, ...); "
        "a clip also gives the audio when --audio is left out.",
    ),
    audio: list[Path] = typer.Option(
        None, "--audio", help="Per --text: audio features or a raw audio/video file."
    ),
    seed: int = typer.Option(None, "--seed", help="Checkpoint of this seed (default: best dev)."),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="Labels to show per text."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per text."),
    oos_detector: str = typer.Option(
        None,
        "--oos-detector",
        help="Flag out-of-scope texts with this detector's dev threshold "
        "(saved by `labelsync evaluate RUN --oos-detector NAME`).",
    ),
) -> None:
    """Label, score (probability) and top-k labels of each text (with video/audio if given)."""
    from ..predict import Predictor

    predictor = Predictor.from_run(run, seed=seed, oos_detector=oos_detector)
    predictions = predictor.predict(text, video=video or None, audio=audio or None, top_k=top_k)
    for p in predictions:
        if as_json:
            typer.echo(json.dumps(p.to_dict(), ensure_ascii=False))
            continue
        _say(f"text: {p.text}")
        if p.value is not None:  # regression
            _say(f"{p.label}: {p.value:.3f}")
            continue
        if p.labels is not None:  # multi-label: every label at or above its threshold
            _say(f"labels: {', '.join(p.labels) or '(none)'}")
        _say(f"label: {p.label} (score {p.score:.3f})")
        _say(f"top-{len(p.top_k)}: " + " | ".join(f"{n} {s:.3f}" for n, s in p.top_k))
        if p.in_scope is not None:
            _say(
                f"in_scope: {str(p.in_scope).lower()} ({oos_detector} score "
                f"{p.oos_score:.4f}, threshold {predictor.oos_threshold.threshold:.4f})"
            )
