"""``Client``: a running ``labelsync serve`` from Python, on httpx2 (the maintained httpx).

    from labelsync import Client
    with Client("http://127.0.0.1:8000") as client:
        client.classify(["book me a flight to rome"])[0].label

Answers come back as ``labelsync.Prediction``; an error answer raises ``ServerError`` with the
server's one-line message. The API key comes from ``api_key`` or ``$LABELSYNC_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import LabelsyncError
from .prediction import Prediction

__all__ = ["Client", "ServerError", "API_KEY_ENV"]

API_KEY_ENV = "LABELSYNC_API_KEY"


class ServerError(LabelsyncError):
    """The server refused a request or could not be reached (one line, with the status)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def prediction_from_dict(record: dict[str, Any]) -> Prediction:
    """The inverse of ``Prediction.to_dict``."""
    return Prediction(
        text=record["text"],
        label=record["label"],
        score=float(record["score"]),
        top_k=[(item["label"], float(item["score"])) for item in record["top_k"]],
        in_scope=record.get("in_scope"),
        oos_score=record.get("oos_score"),
        threshold=record.get("threshold"),
    )


class Client:
    """A connection to ``labelsync serve`` at ``url`` (kept open; use ``with`` or ``close``)."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0):
        import httpx2

        self.url = url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx2.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx2

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.TransportError as exc:
            raise ServerError(f"cannot reach {self.url}: {type(exc).__name__} ({exc})") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text.strip() or response.reason_phrase
            raise ServerError(
                f"{self.url}{path}: {response.status_code} {detail}", response.status_code
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        """``/healthz``: what is served (kind, name, labels, version)."""
        return self._request("GET", "/healthz")

    def labels(self) -> list[dict[str, Any]]:
        """The served labels with their descriptions."""
        return self._request("GET", "/v1/labels")["labels"]

    def classify(self, texts: str | Sequence[str], top_k: int = 3) -> list[Prediction]:
        """``/v1/classify``: one prediction per text from the served label store."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        answer = self._request("POST", "/v1/classify", json={"texts": texts, "top_k": top_k})
        return [prediction_from_dict(record) for record in answer["predictions"]]

    def predict(
        self,
        texts: str | Sequence[str],
        video: Sequence[str | os.PathLike] | None = None,
        audio: Sequence[str | os.PathLike] | None = None,
        *,
        top_k: int = 3,
        upload: bool = True,
    ) -> list[Prediction]:
        """``/v1/predict`` on a served run. ``video``/``audio``: one feature file or raw clip
        per text, uploaded (default) or, with ``upload=False``, paths inside the server's media
        folder."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        media = {name: list(v) for name, v in (("video", video), ("audio", audio)) if v}
        if not upload or not media:
            body = {
                "texts": texts,
                "top_k": top_k,
                **{k: [str(p) for p in v] for k, v in media.items()},
            }
            answer = self._request("POST", "/v1/predict", json=body)
        else:
            files = [
                (name, (Path(p).name, Path(p).read_bytes(), "application/octet-stream"))
                for name, paths in media.items()
                for p in paths
            ]
            data = {"texts": texts, "top_k": str(top_k)}
            answer = self._request("POST", "/v1/predict", data=data, files=files)
        return [prediction_from_dict(record) for record in answer["predictions"]]

    def reload(self) -> dict[str, Any]:
        """Ask the server to read its folder again (after ``labelsync store add``)."""
        return self._request("POST", "/v1/reload")
