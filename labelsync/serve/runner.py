"""``run_server``: uvicorn around the app, one process or ``--workers N``.

uvicorn handles SIGINT/SIGTERM gracefully: it stops accepting connections, lets the requests in
flight finish (up to ``shutdown_timeout_s``), then the app's lifespan stops the batcher. Open
connections are capped (``limit_concurrency``: past it uvicorn answers 503), so a flood of
clients cannot grow memory without bound either.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from typing import Any

from .config import CONFIG_ENV, ServeConfig
from .served import STATE_ENV

__all__ = ["run_server", "uvicorn_options"]

logger = logging.getLogger(__name__)


def uvicorn_options(config: ServeConfig, log_level: str = "info") -> dict[str, Any]:
    """The uvicorn settings that follow from ``config``."""
    return {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "access_log": config.access_log,
        "timeout_graceful_shutdown": max(1, math.ceil(config.shutdown_timeout_s)),
        "limit_concurrency": max(64, 2 * config.max_queue),
        "server_header": False,
    }


def run_server(config: ServeConfig, app: Any = None, log_level: str = "info") -> None:
    """Serve until interrupted. ``app``: an app already built (one process only); otherwise
    one is built from ``config`` (in each worker process with ``workers > 1``)."""
    import uvicorn

    options = uvicorn_options(config, log_level)
    if config.workers == 1:
        if app is None:
            from .app import create_app

            app = create_app(config)
        uvicorn.run(app, **options)
        return
    if app is not None:
        raise ValueError("a prebuilt app runs in one process; leave workers at 1")
    # Each worker builds its own app from the JSON config; prometheus-client keeps every
    # worker's values in a private folder, and reloads are announced through it too.
    shared = tempfile.mkdtemp(prefix="labelsync-serve-")
    saved = {
        name: os.environ.get(name) for name in (CONFIG_ENV, STATE_ENV, "PROMETHEUS_MULTIPROC_DIR")
    }
    os.environ.update(
        {CONFIG_ENV: config.to_json(), STATE_ENV: shared, "PROMETHEUS_MULTIPROC_DIR": shared}
    )
    try:
        uvicorn.run(
            "labelsync.serve.app:app_from_environment",
            factory=True,
            workers=config.workers,
            **options,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(shared, ignore_errors=True)
