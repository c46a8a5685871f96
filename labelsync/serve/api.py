"""The HTTP API: ``/v1/classify`` (label store), ``/v1/predict`` (trained run), ``/v1/labels``,
``/v1/reload``, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import LabelsyncError
from .batching import MicroBatcher
from .config import ServeConfig
from .media_inputs import MODALITIES, MediaInputError, MediaInputs, load_path, uploaded
from .metrics import Metrics
from .schemas import (
    BadInput,
    ClassifyRequest,
    PredictionsResponse,
    PredictRequest,
    check_texts,
    check_top_k,
    one_line,
)
from .served import PredictItem, ServedRun, ServedStore, TextItem

__all__ = ["ServerState", "api_router", "state_of"]


@dataclass
class ServerState:
    """What the routes need, kept on ``app.state.labelsync`` (one per app, no globals)."""

    config: ServeConfig
    metrics: Metrics
    served: ServedStore | ServedRun | None = None
    batcher: MicroBatcher | None = None


def state_of(request: Request) -> ServerState:
    """The ``ServerState`` of the app handling ``request``."""
    return request.app.state.labelsync


def _served(request: Request) -> tuple[ServerState, Any, MicroBatcher]:
    state = state_of(request)
    if state.served is None or state.batcher is None:
        raise HTTPException(404, "this server serves no model (review page only)")
    return state, state.served, state.batcher


def _answer(predictions: list[Any]) -> JSONResponse:
    return JSONResponse({"predictions": [p.to_dict() for p in predictions]})


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["texts"],
                    "properties": {
                        "texts": {"type": "array", "items": {"type": "string"}},
                        "top_k": {"type": "integer", "default": 3},
                        "video": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "audio": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


@asynccontextmanager
async def _predict_inputs(
    request: Request, config: ServeConfig
) -> AsyncIterator[tuple[list[str], int, MediaInputs]]:
    """Texts, top_k and the video/audio inputs of a JSON or a multipart request (uploads stay
    on disk, in a private folder, until the block ends)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(
            max_files=2 * config.max_batch_size,
            max_fields=config.max_batch_size + 8,
            max_part_size=4 * config.max_text_chars + 1024,
        )
        try:
            texts = [t for t in form.getlist("texts") if isinstance(t, str)]
            try:
                top_k = int(str(form.get("top_k", 3)))
            except ValueError:
                raise BadInput("top_k: must be an integer") from None
            uploads: dict[str, list[Any]] = {}
            for modality in MODALITIES:
                files = form.getlist(modality)
                if any(not isinstance(f, UploadFile) for f in files):
                    raise BadInput(f"{modality}: send files, not text fields")
                if files:
                    uploads[modality] = files
            check_texts(texts, config)
            async with uploaded(uploads, config.max_upload_bytes) as media:
                yield texts, top_k, media
        finally:
            await form.close()
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > config.max_body_bytes:  # refused before reading
        raise HTTPException(413, f"request body over the {config.max_body_bytes} byte limit")
    raw = await request.body()
    if len(raw) > config.max_body_bytes:
        raise HTTPException(413, f"request body over the {config.max_body_bytes} byte limit")
    try:
        body = PredictRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise BadInput(one_line(exc.errors())) from None
    check_texts(body.texts, config)
    media = MediaInputs()
    paths = {m: getattr(body, m) for m in MODALITIES if getattr(body, m) is not None}

    def load() -> None:
        for modality, values in paths.items():
            media.items[modality] = [
                load_path(modality, value, config.media_dir, f"{modality}[{i}]", media)
                for i, value in enumerate(values)
            ]

    await run_in_threadpool(load)
    yield body.texts, body.top_k, media


def api_router(kind: str | None, config: ServeConfig) -> APIRouter:
    """The routes for a server of ``kind`` (``store``, ``run`` or None for the review page)."""
    router = APIRouter()

    @router.get("/healthz", tags=["server"])
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness and what is served (no API key needed)."""
        state = state_of(request)
        if state.served is None:
            return {"status": "ok", "kind": "review"}
        pending = state.batcher.pending if state.batcher else 0
        return {"status": "ok", **state.served.info(), "pending": pending}

    @router.get("/metrics", tags=["server"])
    async def metrics(request: Request) -> Response:
        """Prometheus text: requests, latency, batch sizes, forward-pass time, pending inputs."""
        data, content_type = state_of(request).metrics.render()
        return Response(data, media_type=content_type)

    if kind is None:
        return router

    @router.get("/v1/labels", tags=["model"])
    async def labels(request: Request) -> dict[str, Any]:
        """The labels with their descriptions and provenance."""
        _, served, _ = _served(request)
        return {"kind": served.kind, "labels": served.labels()}

    @router.post("/v1/reload", tags=["server"])
    async def reload(request: Request) -> dict[str, Any]:
        """Read the folder again (e.g. after ``labelsync store add``) and swap it in atomically."""
        _, served, batcher = _served(request)
        try:
            info = await batcher.run_exclusive(served.reload)
        except LabelsyncError as exc:
            message = f"reload failed, still serving the previous version: {exc}"
            raise HTTPException(409, message) from None
        return {"reloaded": True, **info}

    wrong = {
        "store": ("/v1/predict", "a label store: use POST /v1/classify"),
        "run": ("/v1/classify", "a trained run: use POST /v1/predict"),
    }[kind]

    @router.post(wrong[0], include_in_schema=False)
    async def wrong_kind() -> None:
        raise HTTPException(404, f"this server serves {wrong[1]}")

    if kind == "store":

        @router.post("/v1/classify", tags=["model"], response_model=PredictionsResponse)
        async def classify(body: ClassifyRequest, request: Request) -> JSONResponse:
            """Label, score, top-k and out-of-scope flag per text, from the label store."""
            state, _, batcher = _served(request)
            texts = check_texts(body.texts, state.config)
            top_k = check_top_k(body.top_k, state.config)
            return _answer(await batcher.submit([TextItem(text, top_k) for text in texts]))

    else:

        @router.post(
            "/v1/predict",
            tags=["model"],
            response_model=PredictionsResponse,
            openapi_extra=PREDICT_BODY,
            max_body_size=config.max_upload_bytes,  # uploads; JSON is checked on its own
        )
        async def predict(request: Request) -> JSONResponse:
            """Label, probability, top-k (and OOS flag) per text, with optional video/audio:
            feature files or raw clips, as JSON paths inside the server's media folder or
            uploaded as multipart/form-data; clips are featurized as the run's training
            features were."""
            state, served, batcher = _served(request)
            try:
                async with _predict_inputs(request, state.config) as (texts, top_k, media):
                    check_top_k(top_k, state.config)
                    video, audio = media.items.get("video"), media.items.get("audio")
                    if media.has_clips:
                        try:
                            video, audio = await run_in_threadpool(served.featurize, video, audio)
                        except LabelsyncError as exc:
                            raise BadInput(media.scrub(str(exc).splitlines()[0])) from None
            except MediaInputError as exc:
                raise BadInput(str(exc)) from None
            arrays = {name: v for name, v in (("video", video), ("audio", audio)) if v is not None}
            for modality, values in arrays.items():
                if len(values) != len(texts):
                    raise BadInput(
                        f"{modality}: {len(values)} files for {len(texts)} texts (one per text)"
                    )
            items = [
                PredictItem(
                    text,
                    top_k,
                    video=arrays["video"][i] if "video" in arrays else None,
                    audio=arrays["audio"][i] if "audio" in arrays else None,
                )
                for i, text in enumerate(texts)
            ]
            return _answer(await batcher.submit(items))

    return router
