"""``labelsync describe``: descriptions for every label, cached, printed, written for review."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import app
from .render import stderr_console, stdout_console

EPILOG = """Examples:

  labelsync describe --labels mintrec --out descriptions.yaml

  OPENAI_API_KEY=... labelsync describe --labels labels.txt --backend openai --model gpt-4o-mini

  labelsync describe --labels labels.txt --backend openai --base-url http://127.0.0.1:8000/v1 \\
      --model local --labels-per-request 5 --dry-run
"""


@app.command(epilog=EPILOG)
def describe(
    labels: str = typer.Option(
        ...,
        "--labels",
        "-l",
        help="Label file (.txt/.json/.yaml) or preset: mintrec, mintrec2, clinc150.",
    ),
    backend: str = typer.Option("llamacpp", help="llamacpp (offline default) | hf | openai."),
    model: str = typer.Option(
        None, help="GGUF path (llamacpp), HF id/path (hf) or the server's model name (openai)."
    ),
    n: int = typer.Option(3, "--n", min=1, max=20, help="Descriptions per label."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the reviewable YAML (or .json)."),
    reviewed: Path = typer.Option(
        None, help="An edited descriptions file: its labels are used as they are."
    ),
    prompt: str = typer.Option(
        None, help="Prompt template name or .txt file (default: the backend's own)."
    ),
    temperature: float = typer.Option(0.0, min=0.0, max=2.0, help="First answer's temperature."),
    seed: int = typer.Option(0, help="Generation seed (part of the cache key)."),
    samples: int = typer.Option(
        None, min=1, help="Answers per label before choosing (default 2 local, 1 server)."
    ),
    max_retries: int = typer.Option(6, min=0, help="Extra answers for a label still short of n."),
    labels_per_request: int = typer.Option(
        1, min=1, help="Labels per request (templates with {labels})."
    ),
    base_url: str = typer.Option(
        None, help="OpenAI-compatible server URL (openai backend; default: OPENAI_BASE_URL)."
    ),
    concurrency: int = typer.Option(
        None, min=1, help="Requests in flight (openai backend; default 8)."
    ),
    timeout: float = typer.Option(
        None, min=0.1, help="Seconds per request (openai backend; default 60)."
    ),
    retries: int = typer.Option(
        None, min=0, help="HTTP retries on 429/5xx/timeouts (openai; default 4)."
    ),
    guard: bool = typer.Option(True, help="Embedding guard: drop off-topic descriptions."),
    strict: bool = typer.Option(
        False, help="Fail when a label fails, instead of keeping it by its name only."
    ),
    allow_partial: bool = typer.Option(
        False, hidden=True, help="No-op: failed labels are kept by name only by default."
    ),
    refresh: bool = typer.Option(False, help="Regenerate even when cached."),
    cache_dir: Path = typer.Option(
        None, envvar="LABELSYNC_CACHE_DIR", help="Cache folder (default ./cache)."
    ),
    examples_from: str = typer.Option(
        None, help="Ground the prompt in training utterances of this dataset (e.g. clinc150)."
    ),
    data_dir: Path = typer.Option(None, help="Data folder for --examples-from."),
    examples_per_label: int = typer.Option(3, min=1, help="Utterances per label shown."),
    dry_run: bool = typer.Option(
        False, help="Show requests, prompt tokens and the output budget; send nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Ask an LLM for short descriptions of each label; cache them; write them for review."""
    from ..describe.describer import DescribeConfig, Describer
    from ..descriptions import Descriptions
    from ..labels import LabelSet

    label_set = LabelSet.resolve(labels)
    reviewed_set = Descriptions.from_yaml(reviewed) if reviewed else None
    config = DescribeConfig(
        n=n,
        backend=backend,
        model=model,
        prompt=prompt,
        temperature=temperature,
        seed=seed,
        samples=samples,
        max_retries=max_retries,
        labels_per_request=labels_per_request,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        base_url=base_url,
        guard=guard,
        strict=strict,
        allow_partial=allow_partial,  # accepted, ignored
        refresh=refresh,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    describer = Describer(config)
    examples = None
    if examples_from:
        from ..describe.examples import training_examples

        examples = training_examples(examples_from, data_dir, examples_per_label, seed)
    if dry_run:
        _print_plan(describer, describer.plan(label_set, reviewed_set, examples))
        return
    try:
        # Failed labels are in the result name-only; the API logs the one warning naming them.
        result, _ = _run_with_progress(describer, label_set, reviewed_set, examples)
    finally:
        describer.backend.close()
    if out:
        if out.suffix.lower() == ".json":
            from .._io import atomic_write_json

            atomic_write_json(out, result.to_dict())
        else:
            result.to_yaml(out)
    if as_json:
        stdout_console().print_json(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_table(result)
    meter = describer.throughput
    if meter.requests:
        per_second, tokens = meter.rates()
        stderr_console().print(
            f"{meter.requests} requests, {meter.completion_tokens} completion tokens: "
            f"{per_second:.1f} req/s, {tokens:.0f} tokens/s"
        )
    if out:
        stderr_console().print(f"wrote {len(result)} labels to {out}")


def _run_with_progress(describer, label_set, reviewed_set, examples):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = stderr_console()
    columns = [
        TextColumn("describing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("describe", total=len(label_set), rate="")

        def on_label(*_: object) -> None:  # called with (label, entry, record)
            rate = ""
            meter = describer.throughput  # a fresh meter per run
            if meter.requests:  # wall-clock rates: what concurrency buys
                per_second, tokens = meter.rates()
                rate = f"{per_second:.1f} req/s, {tokens:.0f} tokens/s"
            progress.update(task, advance=1, rate=rate)

        return describer.run(label_set, reviewed=reviewed_set, examples=examples, on_label=on_label)


def _print_plan(describer, plan) -> None:
    console = stdout_console()
    console.print(
        f"dry run: {len(plan.labels)} labels to generate ({len(plan.cached)} cached), backend "
        f"{describer.backend.name}, model {describer.backend.model_id}, "
        f"prompt {describer.template.name}"
    )
    console.print(
        f"{len(plan.requests)} requests, {plan.prompt_tokens} prompt tokens (cl100k estimate), "
        f"output budget {plan.output_budget} tokens (retries for failed labels come on top)"
    )
    if plan.requests:
        console.rule("first request")
        console.print(plan.requests[0].prompt.as_text(), markup=False)


def _print_table(result) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("label", style="bold")
    table.add_column("descriptions")
    table.add_column("source")
    for entry in result.entries():
        text = "\n".join(f"{i}. {d}" for i, d in enumerate(entry.descriptions, start=1))
        if "failed" in entry.extra:
            text = f"(failed: {entry.extra['failed']})"
        table.add_row(entry.label, text, entry.source)
    stdout_console().print(table)
