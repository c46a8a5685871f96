"""API key check: ``Authorization: Bearer <key>``, compared in constant time, before the body is
read. The key is held in memory only; it is never logged or echoed in a response."""

from __future__ import annotations

import hmac
import json

from starlette.datastructures import Headers, Secret
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ApiKeyMiddleware"]

OPEN_PATHS = ("/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")
OPEN_PREFIXES = ("/static-offline-docs/",)  # the docs page's own scripts and styles


class ApiKeyMiddleware:
    """Refuses every request but the open paths (health, docs) without the right bearer key."""

    def __init__(self, app: ASGIApp, key: Secret):
        self.app = app
        self._key = str(key).encode("utf-8")  # ``Secret``: its repr never shows the value

    def __repr__(self) -> str:  # never show the key, even in debug output
        return "ApiKeyMiddleware(key=***)"

    def _allowed(self, headers: Headers) -> bool:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8"), self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self._allowed(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"detail": "missing or wrong API key (send 'Authorization: Bearer <key>')"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
