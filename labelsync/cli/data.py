"""``labelsync data inspect`` and ``labelsync convert-features``: thin commands over labelsync.data.

Heavy libraries (datasets, numpy) are imported inside the commands so ``labelsync --help`` stays
fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from . import app
from .render import stderr_console, stdout_console

data_app = typer.Typer(
    help="Look at datasets: split sizes, labels, features.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def inspect_command(
    dataset: str = typer.Argument(
        ..., help="mintrec, mintrec2, clinc150, or a path to custom CSV/TSV/JSONL data."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", "-d", help="Folder with its files."),
    video_feats: Path | None = typer.Option(
        None, "--video-feats", help="Video feature file (else found in the data folder)."
    ),
    audio_feats: Path | None = typer.Option(
        None, "--audio-feats", help="Audio feature file (else found in the data folder)."
    ),
    video_old: Path | None = typer.Option(None, "--video", hidden=True),
    audio_old: Path | None = typer.Option(None, "--audio", hidden=True),
    no_features: bool = typer.Option(False, "--no-features", help="Text only: skip features."),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Allow .pkl feature files (unpickling can run code)."
    ),
    labels: str | None = typer.Option(None, "--labels", help="Label file or preset to use."),
    oos_label: str | None = typer.Option(
        None, "--oos-label", help="Custom data: the label that marks out-of-scope rows."
    ),
    variant: str | None = typer.Option(
        None, "--variant", help="CLINC150 file: full, small, imbalanced or plus."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Per-split sizes, in-scope/out-of-scope counts, text lengths, features and labels.

    Example: labelsync data inspect mintrec2 --data-dir MIntRec2.0 --allow-pickle
    """
    from ..data import load_dataset, summarize

    video_feats = _one_spelling("--video-feats", video_feats, "--video", video_old)
    audio_feats = _one_spelling("--audio-feats", audio_feats, "--audio", audio_old)
    if no_features and (video_feats or audio_feats):
        raise typer.BadParameter("--no-features and --video-feats/--audio-feats: drop one")
    dataset_obj = load_dataset(
        dataset,
        data_dir,
        video_feats=video_feats,
        audio_feats=audio_feats,
        features=None if no_features else "auto",
        allow_pickle=allow_pickle,
        labels=labels,
        oos_label=oos_label,
        variant=variant,
    )
    summary = summarize(dataset_obj)
    for warning in summary["warnings"]:
        stderr_console().print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    _render(summary)


def _one_spelling(name: str, value: Path | None, old: str, old_value: Path | None) -> Path | None:
    """``--video`` is the older spelling of ``--video-feats`` (hidden; both at once is an error)."""
    if value is not None and old_value is not None:
        raise typer.BadParameter(f"{old} is the older spelling of {name}: give one")
    return value if value is not None else old_value


def _render(summary: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    oos = f", out-of-scope label {summary['oos_label']!r}" if summary["oos_label"] else ""
    console.print(
        f"[bold]{summary['dataset']}[/] from {summary['source']}: {summary['labels']} labels{oos}; "
        f"modalities: {', '.join(summary['modalities'])}",
        soft_wrap=True,
    )
    splits = summary["splits"]
    table = Table(title="Splits")
    for column in ("split", "samples", "in-scope", "OOS", "labels", "words mean/max"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, info in splits.items():
        words = info["text_tokens"]
        table.add_row(
            name,
            str(info["samples"]),
            str(info["in_scope"]),
            str(info["out_of_scope"]),
            f"{info['labels_present']}/{summary['labels']}",
            f"{words['mean']:.1f}/{words['max']}",
        )
    console.print(table)
    modalities = [m for m in summary["modalities"] if m != "text"]
    if modalities:
        features = Table(title="Features")
        for column in ("split", "modality", "dim", "coverage", "frames mean/max", "over max"):
            features.add_column(
                column, justify="left" if column in ("split", "modality") else "right"
            )
        for name, info in splits.items():
            for modality in modalities:
                feat = info["features"][modality]
                frames = feat["frames"]
                features.add_row(
                    name,
                    f"{modality} ({feat['format']})",
                    str(feat["dim"]),
                    f"{feat['coverage']:.0%}",
                    f"{frames['mean']:.0f}/{frames['max']}",
                    f"{frames['over_max']} (> {summary['max_lengths'][modality]})",
                )
        console.print(features)
        files = Table(title="Feature files")
        for column in ("modality", "file", "format", "dim", "keys", "sha256 (first MB)"):
            files.add_column(
                column,
                justify="right" if column in ("dim", "keys") else "left",
                overflow="fold",  # long release paths wrap rather than lose their end
            )
        for modality, info in summary["feature_files"].items():
            for record in info["files"]:
                files.add_row(
                    modality,
                    record["name"],
                    record["format"],
                    str(record["dim"]),
                    str(record["keys"]),
                    (record["sha256_first_mb"] or "-")[:16],
                )
        console.print(files)
    labels = Table(title="Label distribution")
    labels.add_column("label")
    for name in splits:
        labels.add_column(name, justify="right")
    for label, counts in summary["label_distribution"].items():
        labels.add_row(label, *(str(counts.get(name, 0)) for name in splits))
    console.print(labels)


@app.command("convert-features")
def convert_features_command(
    src: Path = typer.Argument(..., help="Input feature file (.pkl, .npz or .safetensors)."),
    dst: Path = typer.Argument(..., help="Output file (.safetensors, or uncompressed .npz)."),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Allow reading a .pkl input (unpickling can run code)."
    ),
) -> None:
    """Convert a feature file once, e.g. the official MIntRec pickles to safetensors (atomic).

    Example: labelsync convert-features video_feats.pkl video_feats.safetensors --allow-pickle
    """
    from ..data import convert_features

    result = convert_features(src, dst, allow_pickle=allow_pickle)
    dims = ", ".join(str(d) for d in result.dims)
    stdout_console().print(
        f"wrote {result.path} ({result.keys} keys, dim {dims}, {result.bytes / 1e6:.1f} MB)",
        soft_wrap=True,
    )
