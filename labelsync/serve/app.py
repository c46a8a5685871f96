"""``create_app``: the FastAPI application of ``labelsync serve`` and ``labelsync review``.

Errors come back as ``{"detail": "<one line>"}``: 422 for bad input, 413 for a body over the
limit (refused before it is read), 401 without the API key, 503 + ``Retry-After`` when the queue
is full, and a 500 that names the error type only; tracebacks stay in the server log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Secret
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..errors import LabelsyncError
from .api import ServerState, api_router
from .batching import MicroBatcher, Overloaded
from .config import CONFIG_ENV, ServeConfig
from .metrics import Metrics, MetricsMiddleware
from .schemas import BadInput, one_line
from .security import ApiKeyMiddleware
from .served import ServedRun, ServedStore, open_served, set_threads

__all__ = ["create_app", "app_from_environment"]

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 1
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, one_line(list(exc.errors())))

    @app.exception_handler(BadInput)
    async def bad_input(_request: Request, exc: BadInput) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(_request: Request, exc: Overloaded) -> JSONResponse:
        metrics.rejected.inc()
        return _error(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(LabelsyncError)
    async def labelsync_error(_request: Request, exc: LabelsyncError) -> JSONResponse:
        return _error(422, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 413 and detail == "Content Too Large":
            detail = "request body over the size limit (refused before reading it)"
        return _error(exc.status_code, str(detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the traceback reaches the server log only.
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")


def create_app(
    config: ServeConfig,
    served: ServedStore | ServedRun | None = None,
    *,
    review: Any = None,
) -> FastAPI:
    """The app serving ``served`` (a loaded store or run; None: ``config.path`` is loaded) and,
    with ``review`` (a ``ReviewSession``), the review page at ``/review/``."""
    if config.threads is not None:
        set_threads(config.threads)
    if served is None and config.path is not None:
        served = open_served(
            config.path,
            device=config.device,
            seed=config.seed,
            oos_detector=config.oos_detector,
        )
    api_key = config.api_key()  # fails now, in one line, when the variable is missing
    metrics = Metrics()
    state = ServerState(config, metrics, served)
    if served is not None:
        served.warm_up()
        state.batcher = MicroBatcher(
            served.run_batch,
            max_batch_size=config.max_batch_size,
            max_wait_s=config.max_wait_ms / 1000,
            max_queue=config.max_queue,
            batching=config.batching,
            on_batch=metrics.batch_done,
            on_pending=metrics.pending.set,
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if state.batcher is not None:
            await state.batcher.start()
        try:
            yield
        finally:  # uvicorn has finished the requests in flight by now
            if state.batcher is not None:
                await state.batcher.stop()
            if review is not None:
                review.close()

    app = FastAPIOffline(  # /docs with swagger-ui served from the package, not a CDN (offline)
        title="labelsync",
        version=__version__,
        summary="Intent labels from label semantics: a label store or a trained A-MESS run.",
        lifespan=lifespan,
        max_body_size=config.max_body_bytes,
    )
    app.state.labelsync = state
    _install_error_handlers(app, metrics)
    app.include_router(api_router(served.kind if served else None, config))
    if review is not None:
        from .review.routes import review_router

        app.include_router(review_router(review))
    if review is not None and config.host in LOOPBACK_HOSTS:  # no DNS rebinding to the page
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_HOSTS))
    if api_key is not None:
        app.add_middleware(ApiKeyMiddleware, key=Secret(api_key))
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts 401s too
    return app


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process (``--workers N``): the config comes as JSON in
    ``LABELSYNC_SERVE_CONFIG``, set by :func:`labelsync.serve.runner.run_server`."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise LabelsyncError(f"{CONFIG_ENV} is not set (start workers with 'labelsync serve')")
    # sentence-transformers' (disabled) progress bar makes tqdm create a multiprocessing lock, a
    # named semaphore that a spawned worker never releases ("leaked semaphore" at shutdown); a
    # thread lock is all a worker needs.
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    return create_app(ServeConfig.from_json(text))
