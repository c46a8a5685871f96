"""``labelsync review``: the review page for a descriptions file, served by the same app."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from .render import stderr_console
from .serve import run

REVIEW_EPILOG = """Examples:

  labelsync review descriptions.yaml                    # open http://127.0.0.1:8001/review/

  labelsync review descriptions.yaml --store stores/mintrec --data MIntRec/dev.tsv
"""


@app.command("review", epilog=REVIEW_EPILOG)
def review_command(
    descriptions: Path = typer.Argument(..., help="The descriptions YAML to review (saved back)."),
    store: Path = typer.Option(
        None,
        "--store",
        "-s",
        help="Label store: its embedder (a fitted body too), scoring, examples and a "
        "calibrated or hand-set threshold are used.",
    ),
    data: Path = typer.Option(None, help="Dev CSV/TSV with text,label: accuracy per edit."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8001, min=0, max=65535, help="Port to listen on."),
    backend: str = typer.Option("llamacpp", help="Describe backend for 'regenerate'."),
    model: str = typer.Option(None, help="Describe model (see labelsync describe --help)."),
    base_url: str = typer.Option(None, envvar="OPENAI_BASE_URL", help="openai backend URL."),
    cache_dir: Path = typer.Option(None, envvar="LABELSYNC_CACHE_DIR", help="Describe cache."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a browser."),
) -> None:
    """A web page to review label descriptions: edit, regenerate, confusable pairs, dev accuracy."""
    from ..serve.config import ServeConfig
    from ..serve.review.session import ReviewOptions, ReviewSession

    options = ReviewOptions(
        descriptions=descriptions,
        store=store,
        data=data,
        backend=backend,
        model=model,
        base_url=base_url,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    with stderr_console().status(f"loading {descriptions}"):
        session = ReviewSession(options)
    config = ServeConfig(host=host, port=port)
    if open_browser:
        import threading
        import webbrowser

        url = f"http://{host}:{port}/review/"
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    run(config, "review", review=session)
