"""``labelsync serve``: the HTTP inference server; and the ``classify --server URL`` path that
goes through a running server."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import LabelsyncError
from . import app
from .render import prediction_table, stderr_console, stdout_console

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Client
    from ..serve.config import ServeConfig
    from ..serve.review.session import ReviewSession

logger = logging.getLogger(__name__)

SERVE_EPILOG = """Examples:

  labelsync serve stores/clinc150                       # http://127.0.0.1:8000, docs at /docs

  curl -s localhost:8000/v1/classify -H 'content-type: application/json' \\
      -d '{"texts": ["book me a flight to rome"]}'

  API_KEY=secret labelsync serve runs/mintrec --api-key-env API_KEY --media-dir features/

  labelsync store add stores/clinc150 --descriptions more.yaml
  curl -X POST localhost:8000/v1/reload                 # picked up without a restart
"""


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _mib(value: float) -> int:
    return int(value * (1 << 20))


@app.command("serve", epilog=SERVE_EPILOG)
def serve_command(
    path: Path = typer.Argument(..., help="A label store folder or a trained run folder."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads the model)."),
    batching: bool = typer.Option(True, help="Share forward passes between requests."),
    max_batch_size: int = typer.Option(64, min=1, help="Texts per forward pass and request."),
    max_wait_ms: float = typer.Option(5.0, min=0, help="How long a batch waits to fill up."),
    max_queue: int = typer.Option(512, min=1, help="Texts accepted, not answered; past it: 503."),
    max_text_chars: int = typer.Option(2000, min=1, help="Longest text accepted."),
    max_body_mb: float = typer.Option(1.0, min=0.001, help="Largest JSON body (MiB)."),
    max_upload_mb: float = typer.Option(64.0, min=0.001, help="Largest upload body (MiB)."),
    api_key_env: str = typer.Option(
        None, help="Require 'Authorization: Bearer KEY', KEY read from this env variable."
    ),
    media_dir: Path = typer.Option(
        None, help="Allow server-side feature/clip paths inside this folder (/v1/predict)."
    ),
    device: str = typer.Option(None, help="cpu or cuda (default: the library's choice)."),
    threads: int = typer.Option(
        None, min=1, help="CPU threads for torch/FAISS (1 is often fastest on a busy machine)."
    ),
    seed: int = typer.Option(None, help="Run: which seed's checkpoint (default: best on dev)."),
    oos_detector: str = typer.Option(None, help="Run: flag out-of-scope with this detector."),
    shutdown_timeout: float = typer.Option(
        30.0, min=0, help="Seconds a shutdown waits for requests in flight."
    ),
    access_log: bool = typer.Option(False, help="Log one line per request."),
) -> None:
    """Serve a label store (/v1/classify) or a trained run (/v1/predict) over HTTP."""
    from ..serve.config import ServeConfig
    from ..serve.served import served_kind

    kind = served_kind(path)
    config = ServeConfig(
        path=str(path),
        host=host,
        port=port,
        workers=workers,
        batching=batching,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        max_text_chars=max_text_chars,
        max_body_bytes=_mib(max_body_mb),
        max_upload_bytes=_mib(max_upload_mb),
        api_key_env=api_key_env,
        media_dir=str(media_dir) if media_dir else None,
        device=device,
        threads=threads,
        seed=seed,
        oos_detector=oos_detector,
        shutdown_timeout_s=shutdown_timeout,
        access_log=access_log,
    )
    config.api_key()  # a missing variable fails here, before any model loads
    if host not in LOOPBACK and api_key_env is None:
        logger.warning("listening on %s without --api-key-env: anyone who can reach it can use it",
                       host)  # fmt: skip
    run(config, kind)


def run(config: ServeConfig, kind: str, review: ReviewSession | None = None) -> None:
    """Build the app (one process) and serve it until interrupted."""
    from ..serve.runner import run_server

    app_ = None
    if config.workers == 1:
        from ..serve.app import create_app

        with stderr_console().status(f"loading {config.path or 'the review page'}"):
            app_ = create_app(config, review=review)
    what = f"{kind} {config.path}" if config.path else "the review page"
    url = f"http://{config.host}:{config.port}"
    where = f"{url}/review/" if review is not None else f"{url} (API docs at {url}/docs)"
    stderr_console().print(f"serving {what} at {where}; Ctrl-C stops", markup=False, soft_wrap=True)
    run_server(config, app_, log_level=_uvicorn_log_level())


def _uvicorn_log_level() -> str:
    """uvicorn's own lines (start, stop, access log) at info; everything with --debug."""
    return "debug" if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else "info"


def classify_via_server(
    server: str, texts: list[str], top_k: int, as_json: bool, store_dir: Path | None
) -> None:
    """``labelsync classify --server URL``: the same output, from a running ``labelsync serve``
    (no torch or model in this process)."""
    from ..client import Client

    with Client(server) as client:
        if store_dir is not None:
            _check_same_store(client, store_dir)
        predictions = client.classify(texts, top_k=top_k)
        threshold = client.health().get("threshold") or {}
    if as_json:
        method = threshold.get("threshold_method")
        for prediction in predictions:
            record = {**prediction.to_dict(), "threshold_method": method}
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    stdout_console().print(
        prediction_table(predictions, f"{server} ({len(predictions)} texts)", top_k)
    )
    if threshold.get("describe"):
        stdout_console().print(threshold["describe"], soft_wrap=True, markup=False, highlight=False)


def _check_same_store(client: Client, store_dir: Path) -> None:
    """Warn when the server holds another version of ``store_dir`` (it was changed on disk)."""
    import hashlib

    meta = store_dir / "meta.json"
    if not meta.is_file():
        raise LabelsyncError(f"{store_dir}: label store not found")
    served = client.health().get("version")
    if served != hashlib.sha256(meta.read_bytes()).hexdigest():
        print(
            f"warning: the server does not serve {store_dir} as it is on disk "
            "(another store, or changed since: POST /v1/reload)",
            file=sys.stderr,
        )
