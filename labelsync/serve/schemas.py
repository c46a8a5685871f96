"""Request and response bodies of the HTTP API (they also make the OpenAPI page at ``/docs``),
and the checks that turn bad input into a one-line 422 message."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .config import ServeConfig

__all__ = [
    "BadInput",
    "ClassifyRequest",
    "PredictRequest",
    "PredictionsResponse",
    "check_texts",
    "check_top_k",
    "one_line",
]


class BadInput(ValueError):
    """Input the server refuses with 422 and this one-line message."""


class ClassifyRequest(BaseModel):
    """Texts to classify with the served label store."""

    texts: list[str] = Field(..., description="One or more non-empty texts.")
    top_k: int = Field(3, description="Labels returned per text, best first.")

    model_config = {"json_schema_extra": {"examples": [{"texts": ["book me a flight"]}]}}


class PredictRequest(BaseModel):
    """Texts (and feature files or clips on the server) for a trained run.

    ``video``/``audio``: one path per text, relative to the server's ``--media-dir``. To send the
    files themselves, post ``multipart/form-data`` with fields ``texts`` (repeated), ``top_k`` and
    files ``video``/``audio`` (one per text, in order).
    """

    texts: list[str] = Field(..., description="One or more non-empty texts.")
    video: list[str] | None = Field(None, description="Video features or clips, one per text.")
    audio: list[str] | None = Field(None, description="Audio features or clips, one per text.")
    top_k: int = Field(3, description="Labels returned per text, best first.")


class LabelScore(BaseModel):
    """One of the top-k labels with its score."""

    label: str
    score: float


class PredictionOut(BaseModel):
    """One input's decision (``labelsync.Prediction``)."""

    text: str
    label: str
    score: float
    top_k: list[LabelScore]
    in_scope: bool | None = Field(
        None, description="None: no threshold (a store of one label, never calibrated)."
    )
    oos_score: float | None = None
    threshold: float | None = None


class PredictionsResponse(BaseModel):
    """The answer of /v1/classify and /v1/predict: one prediction per input, in order."""

    predictions: list[PredictionOut]


def check_texts(texts: list[Any], config: ServeConfig) -> list[str]:
    """The texts, or ``BadInput`` naming the first problem."""
    if not texts:
        raise BadInput("texts: give at least one text")
    if len(texts) > config.max_batch_size:
        raise BadInput(
            f"texts: {len(texts)} texts, over the maximum batch of {config.max_batch_size}"
        )
    for position, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise BadInput(f"texts[{position}]: empty text")
        if len(text) > config.max_text_chars:
            raise BadInput(
                f"texts[{position}]: {len(text)} characters, over the limit of "
                f"{config.max_text_chars}"
            )
    return list(texts)


def check_top_k(top_k: int, config: ServeConfig) -> int:
    """``top_k``, or ``BadInput`` when it is out of range."""
    if not 1 <= top_k <= config.max_top_k:
        raise BadInput(f"top_k: must be between 1 and {config.max_top_k}, got {top_k}")
    return top_k


def one_line(errors: list[dict[str, Any]]) -> str:
    """A pydantic/FastAPI validation error list as one line: ``texts: Field required``."""
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return f"invalid JSON body ({ctx.get('error', 'decode error')})"
    if not where:  # the body itself: not a JSON object (often a missing Content-Type)
        return "the body must be a JSON object, sent with Content-Type: application/json"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"
