"""``labelsync index``, ``classify`` and ``store add|remove|info|fit``: the label store commands."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import typer

from ..errors import LabelsyncError
from . import app
from .render import prediction_table, stderr_console, stdout_console

logger = logging.getLogger(__name__)

store_app = typer.Typer(
    help="Change a label store without retraining: add or remove labels, show what it holds.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")

INDEX_EPILOG = """Examples:

  labelsync index --descriptions descriptions.yaml --out stores/clinc150

  labelsync index --descriptions reviewed:clinc150 --out stores/c150 --examples train.tsv
  labelsync index --descriptions reviewed:clinc150 --out stores/c150 --calibrate dev.tsv

  labelsync index --descriptions d.yaml --examples train.csv --shots 5 --fit --out stores/fitted

  labelsync index --labels mintrec --out stores/mintrec-names --index hnsw
"""


def _calibrate(store, path: Path) -> str:
    result = store.calibrate_from(path)
    extra = f", FPR {result.fpr:.3f}, AUROC {result.auroc:.3f}" if result.fpr is not None else ""
    return f"OOS threshold {result.threshold:.4f} (TPR {result.tpr:.3f}{extra})"


def _threshold_line(store) -> str:
    info = store.threshold_info
    if info is None:
        return "OOS: no threshold (a store needs 2 labels for its default; or use --calibrate)"
    return info.describe()


def _fit(
    store,
    examples: Path,
    shots: int,
    seed: int,
    dev: Path | None,
    head: str | None,
    anchors: bool,
    max_pairs: int | None,
) -> str:
    """Fit the store on ``shots`` examples per label of ``examples``; dev rows default to the
    file's other rows (up to 1,000, seeded). Returns the line to print."""
    from ..labels import normalize_label
    from ..store import examples as pairs

    if head not in (None, "nearest", "logistic"):
        raise typer.BadParameter(f"--head must be nearest or logistic, not {head!r}")
    given = {"head": head, "max_pairs": max_pairs}
    settings = {"anchors": anchors, **{k: v for k, v in given.items() if v is not None}}
    rows = pairs.labelled_rows(examples)
    chosen = pairs.sample_shots(rows, store.labels, shots, seed, where=str(examples))
    dev_rows = pairs.labelled_rows(dev) if dev else pairs.held_out(rows, chosen, seed=seed)
    known = {normalize_label(name) for name in store.labels}
    if not dev and not any(normalize_label(row.label) in known for row in dev_rows):
        dev_rows = []  # every labelled row became an example: nothing is left to score on
    info = store.fit(chosen, dev=dev_rows or None, seed=seed, **settings)
    line = f"fitted on {info['examples']} examples ({info['pairs']} pairs) in {info['seconds']} s"
    if "dev" in info:
        d = info["dev"]
        line += (
            f"; dev accuracy {d['before']['accuracy']:.3f} -> {d['after']['accuracy']:.3f} "
            f"on {d['after']['in_scope']} rows{' of ' + str(dev) if dev else ' held out'}"
        )
    return line


_HEAD = typer.Option(None, help="After a fit: logistic (default) or nearest (label scoring).")
_ANCHORS = typer.Option(True, help="Fit with label names and descriptions as anchors.")
_MAX_PAIRS = typer.Option(None, min=2, help="Cap on the generated training pairs (default 2,500).")
_DEV = typer.Option(
    None,
    help="CSV/TSV with text,label scored before/after a fit (default: other rows of --examples).",
)


def _load_descriptions(spec: str):
    from ..descriptions import Descriptions

    if spec.startswith("reviewed:") and not Path(spec).exists():
        return Descriptions.reviewed(spec.split(":", 1)[1])
    return Descriptions.from_yaml(spec)


def _say(text: str) -> None:
    """One plain line on stdout: never wrapped, no rich markup (paths may hold brackets)."""
    stdout_console().print(text, soft_wrap=True, markup=False, highlight=False)


def _summary(store, path: Path) -> str:
    return (
        f"{path}: {len(store)} labels, {store.num_vectors} vectors "
        f"({store.embedder_name}, {store.dim}-d, {store.index_type})"
    )


@app.command("index", epilog=INDEX_EPILOG)
def index_command(
    out: Path = typer.Option(..., "--out", "-o", help="Store directory to write (replaced)."),
    descriptions: str = typer.Option(
        None, "--descriptions", "-d", help="Descriptions YAML/JSON, or reviewed:PRESET."
    ),
    labels: str = typer.Option(
        None, "--labels", "-l", help="Names only: a label file or preset (no descriptions)."
    ),
    embedder: str = typer.Option(
        "all-MiniLM-L6-v2", help="sentence-transformers id or path (offline by default)."
    ),
    index: str = typer.Option("flat", help="flat (exact) or hnsw (approximate, large stores)."),
    examples: Path = typer.Option(None, help="CSV/TSV with text,label: few-shot examples."),
    shots: int = typer.Option(5, min=1, help="Examples per label taken from --examples."),
    seed: int = typer.Option(0, help="Seed for choosing the examples."),
    calibrate: Path = typer.Option(
        None, help="CSV/TSV with text,label (oos/UNK rows = out of scope): sets the threshold."
    ),
    fit: bool = typer.Option(False, "--fit", help="Fit the embedder on the --examples."),
    head: str = _HEAD,
    anchors: bool = _ANCHORS,
    dev: Path = _DEV,
    max_pairs: int = _MAX_PAIRS,
) -> None:
    """Build a label store: names, descriptions (and examples) embedded into FAISS; with
    --fit, the embedder is first fitted on the examples (SetFit-style)."""
    from ..labels import LabelSet
    from ..store import LabelStore

    if (descriptions is None) == (labels is None):
        raise typer.BadParameter("give exactly one of --descriptions or --labels")
    if index not in ("flat", "hnsw"):
        raise typer.BadParameter(f"--index must be flat or hnsw, not {index!r}")
    if fit and examples is None:
        raise typer.BadParameter("--fit needs --examples")
    unused = {"--head": head, "--dev": dev, "--max-pairs": max_pairs, "--no-anchors": not anchors}
    if not fit and any(unused.values()):
        named = ", ".join(name for name, value in unused.items() if value)
        raise typer.BadParameter(f"{named} only apply with --fit")
    started = time.perf_counter()
    source = _load_descriptions(descriptions) if descriptions else LabelSet.resolve(labels)
    with stderr_console().status(f"embedding {len(source)} labels with {embedder}"):
        store = LabelStore.build(source, embedder=embedder, index=index)
    notes = []
    if fit:
        notes.append(_fit(store, examples, shots, seed, dev, head, anchors, max_pairs))
    elif examples is not None:
        notes.append(f"{store.add_examples_from(examples, shots, seed)} examples")
    if calibrate is not None:
        notes.append(_calibrate(store, calibrate))
    store.save(out)
    seconds = time.perf_counter() - started
    extra = f"; {'; '.join(notes)}" if notes else ""
    _say(f"built {_summary(store, out)} in {seconds:.1f} s{extra}")
    _say(_threshold_line(store))


CLASSIFY_EPILOG = """Examples:

  labelsync classify --store stores/clinc150 "book me a flight to paris" "what's my balance"

  labelsync classify --store stores/clinc150 --file texts.txt --top-k 5 --json

  labelsync classify --server http://127.0.0.1:8000 "book me a flight"   # a running serve
"""


@app.command("classify", epilog=CLASSIFY_EPILOG)
def classify_command(
    texts: list[str] = typer.Argument(None, help="Texts to classify."),
    store_dir: Path = typer.Option(None, "--store", "-s", help="Label store directory."),
    file: Path = typer.Option(None, "--file", "-f", help="More texts, one per line."),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, help="Labels to show per text."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    device: str = typer.Option(
        None, "--device", help="cpu or cuda (needs faiss-gpu); default: the GPU when usable."
    ),
    server: str = typer.Option(
        None,
        "--server",
        envvar="LABELSYNC_SERVER",
        help="URL of a running 'labelsync serve' to ask instead (no model loads here).",
    ),
) -> None:
    """Zero-shot (or few-shot) intent and out-of-scope flag for each text, from the store alone."""
    if store_dir is None and server is None:
        raise typer.BadParameter("give --store DIR (or --server URL)", param_hint="'--store'")
    texts = [t for t in texts or [] if t.strip()]
    if file is not None:
        if not file.is_file():
            raise LabelsyncError(f"{file}: file not found")
        texts += [line.strip() for line in file.read_text(encoding="utf-8").splitlines()]
        texts = [t for t in texts if t]
    if not texts:
        raise LabelsyncError("no text to classify: give texts as arguments or --file")
    if server is not None:
        from .serve import classify_via_server

        classify_via_server(server, texts, top_k, as_json, store_dir)
        return
    from ..store import LabelStore

    store = LabelStore.load(store_dir, device=device)
    predictions = store.classify(texts, top_k=top_k)
    method = store.threshold_info.method if store.threshold_info else None
    if as_json:
        for prediction in predictions:
            record = {**prediction.to_dict(), "threshold_method": method}
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    title = f"{store_dir} ({len(store)} labels)"
    stdout_console().print(prediction_table(predictions, title, top_k))
    _say(_threshold_line(store))


@store_app.command(
    "add", epilog="Example:\n\n  labelsync store add stores/s --descriptions more.yaml"
)
def store_add(
    store_dir: Path = typer.Argument(..., help="Label store directory."),
    descriptions: str = typer.Option(None, "--descriptions", "-d", help="Descriptions YAML/JSON."),
    replace: bool = typer.Option(False, help="Replace labels that are already in the store."),
    examples: Path = typer.Option(None, help="CSV/TSV with text,label: few-shot examples."),
    shots: int = typer.Option(5, min=1, help="Examples per label taken from --examples."),
    seed: int = typer.Option(0, help="Seed for choosing the examples."),
) -> None:
    """Add labels (or examples) to a store; the other labels are left as they are."""
    from ..store import LabelStore

    if descriptions is None and examples is None:
        raise typer.BadParameter("give --descriptions and/or --examples")
    store = LabelStore.load(store_dir)
    notes = []
    if descriptions is not None:
        added = store.add(_load_descriptions(descriptions), replace=replace)
        notes.append(f"added {len(added)} labels")
    if examples is not None:
        notes.append(f"added {store.add_examples_from(examples, shots, seed)} examples")
    store.save(store_dir)
    _say(f"{'; '.join(notes)}: {_summary(store, store_dir)}")
    if store.fitted:
        _say(
            "embedded with the fitted body; refitting would help the new labels and examples "
            f"(labelsync store fit {store_dir} --examples FILE)"
        )


@store_app.command("remove", epilog="Example:\n\n  labelsync store remove stores/s book_flight")
def store_remove(
    store_dir: Path = typer.Argument(..., help="Label store directory."),
    labels: list[str] = typer.Argument(..., help="Labels to remove."),
) -> None:
    """Remove labels and their vectors from a store."""
    from ..store import LabelStore

    store = LabelStore.load(store_dir)
    names = [store.entry(label).label for label in labels]  # all known before any change
    for name in names:
        store.remove(name)
    store.save(store_dir)
    _say(f"removed {', '.join(names)}: {_summary(store, store_dir)}")


@store_app.command("info", epilog="Example:\n\n  labelsync store info stores/clinc150")
def store_info(
    store_dir: Path = typer.Argument(..., help="Label store directory."),
    as_json: bool = typer.Option(False, "--json", help="Print meta.json and labels as JSON."),
) -> None:
    """What a store holds: embedder, index, threshold, and each label's vectors."""
    from rich.table import Table
    from rich.text import Text

    from ..store import LabelStore
    from ..store.files import read_meta

    store = LabelStore.load(store_dir)  # checks the files; does not load the embedder
    meta = read_meta(store_dir)
    if as_json:
        rows = [{"label": e.label, "descriptions": len(e.descriptions), "examples": len(e.examples)}
                for e in store.entries]  # fmt: skip
        typer.echo(json.dumps({"meta": meta, "labels": rows}, ensure_ascii=False))
        return
    console = stdout_console()
    _say(_summary(store, store_dir))
    _say(
        f"scoring: {store.aggregate} over descriptions, name weight {store.name_weight}, "
        f"example weight {store.example_weight}, template {store.template!r}"
    )
    _say(_threshold_line(store))
    if store.fitted:
        _say(_fit_summary(store))
    table = Table(show_edge=False)
    for column in ("label", "descriptions", "examples", "source"):
        table.add_column(column)
    for e in store.entries:
        source = e.source or ""
        table.add_row(Text(e.label), str(len(e.descriptions)), str(len(e.examples)), source)
    console.print(table)


def _fit_summary(store) -> str:
    info, config = store.fit_info, store.fit_info["config"]
    head = f"{store.head and 'logistic' or 'nearest'} head"
    line = (
        f"fitted: {info['examples']} examples of {info['labels_with_examples']} labels, "
        f"{info['pairs']} pairs, {config['epochs']} epoch, lr {config['learning_rate']}, "
        f"anchors {'on' if config['anchors'] else 'off'}, {head}, seed {config['seed']}, "
        f"{info['seconds']} s"
    )
    dev = info.get("dev")
    if dev:
        before, after = dev["before"], dev["after"]
        line += f"; dev ({dev['rows']} rows) accuracy {before['accuracy']:.3f}"
        line += f" -> {after['accuracy']:.3f}"
        if "auroc" in after:
            line += f", AUROC {before['auroc']:.3f} -> {after['auroc']:.3f}"
    return line


FIT_EPILOG = """Examples:

  labelsync store fit stores/c150 --examples train.csv --shots 5

  labelsync store fit stores/c150 --examples train.csv --shots 10 --head logistic --dev dev.csv
"""


@store_app.command("fit", epilog=FIT_EPILOG)
def store_fit(
    store_dir: Path = typer.Argument(..., help="Label store directory (replaced when done)."),
    examples: Path = typer.Option(..., help="CSV/TSV with text,label: the few-shot examples."),
    shots: int = typer.Option(5, min=1, help="Examples per label taken from --examples."),
    seed: int = typer.Option(0, help="Seed for the examples, the pairs and the training order."),
    head: str = _HEAD,
    anchors: bool = _ANCHORS,
    dev: Path = _DEV,
    max_pairs: int = _MAX_PAIRS,
    calibrate: Path = typer.Option(None, help="CSV/TSV with text,label: calibrate after the fit."),
) -> None:
    """Fit the store's embedder on a few examples per label (SetFit-style, label names and
    descriptions as anchors) and re-embed the store; an interrupted fit changes nothing."""
    from ..store import LabelStore

    store = LabelStore.load(store_dir)
    before = store.threshold_info
    line = _fit(store, examples, shots, seed, dev, head, anchors, max_pairs)
    if calibrate is not None:
        line += f"; {_calibrate(store, calibrate)}"
    elif before is not None and before.method != "default":
        line += f"; the {before.method} threshold was replaced by the default (calibrate again)"
    store.save(store_dir)
    _say(f"{line}: {_summary(store, store_dir)}")
    _say(_threshold_line(store))
