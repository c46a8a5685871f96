"""Routes of the review page: the static page at ``/review/`` and its JSON API at
``/review/api/*``.

Every API call carries the session token (``X-Review-Token``, put into the page when it is
served): another web site open in the same browser cannot read the page, so it cannot call the
API. Loopback servers also refuse other ``Host`` names (DNS rebinding).
"""

from __future__ import annotations

import hmac
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ...errors import LabelsyncError
from .session import ReviewSession, StaleVersion

__all__ = ["review_router", "STATIC_FILES"]

STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}
TOKEN_PLACEHOLDER = "__LABELSYNC_REVIEW_TOKEN__"


class LabelRecord(BaseModel):
    """One label of the page's working copy."""

    label: str
    descriptions: list[str]


class WorkingCopy(BaseModel):
    """The descriptions as they are on the page."""

    labels: list[LabelRecord]


class TryRequest(WorkingCopy):
    """A sentence to classify under the working copy."""

    text: str


class RegenerateRequest(BaseModel):
    """One label to describe again, with ``n`` descriptions."""

    label: str
    n: int = Field(3, ge=1, le=20)


class SaveRequest(WorkingCopy):
    """The working copy and the file version the page loaded."""

    version: str


def _static(name: str) -> str:
    return (resources.files("labelsync.serve.review") / "static" / name).read_text("utf-8")


def review_router(session: ReviewSession) -> APIRouter:
    """The page and its API for one ``ReviewSession``."""

    def check_token(x_review_token: str = Header("")) -> None:
        if not hmac.compare_digest(x_review_token.encode(), session.token.encode()):
            raise HTTPException(403, "missing or wrong review token: reload the page")

    def records(body: WorkingCopy) -> list[dict[str, Any]]:
        return [record.model_dump() for record in body.labels]

    def unprocessable(exc: LabelsyncError) -> HTTPException:
        return HTTPException(422, str(exc))

    router = APIRouter(include_in_schema=False)
    api = APIRouter(prefix="/review/api", dependencies=[Depends(check_token)])

    @router.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse("/review/")

    @router.get("/review/")
    def page() -> HTMLResponse:
        html = _static("index.html").replace(TOKEN_PLACEHOLDER, session.token)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @router.get("/review/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(_static(name), media_type=STATIC_FILES[name])

    @api.get("/document")
    def document() -> dict[str, Any]:
        return session.document()

    @api.post("/evaluate")
    def evaluate(body: WorkingCopy) -> dict[str, Any]:
        try:
            return session.evaluate(records(body))
        except LabelsyncError as exc:
            raise unprocessable(exc) from None

    @api.post("/try")
    def try_text(body: TryRequest) -> dict[str, Any]:
        try:
            return session.try_text(records(body), body.text)
        except LabelsyncError as exc:
            raise unprocessable(exc) from None

    @api.post("/regenerate")
    def regenerate(body: RegenerateRequest) -> dict[str, Any]:
        try:
            return session.regenerate(body.label, body.n)
        except LabelsyncError as exc:
            raise HTTPException(502, str(exc)) from None

    @api.post("/save")
    def save(body: SaveRequest) -> dict[str, Any]:
        try:
            return session.save(body.version, records(body))
        except StaleVersion as exc:
            raise HTTPException(409, str(exc)) from None
        except LabelsyncError as exc:
            raise unprocessable(exc) from None

    router.include_router(api)
    return router
