"""``ServeConfig``: everything that decides how a server runs, as one dataclass.

It travels to uvicorn worker processes as JSON in an environment variable, so it holds names and
numbers only: the API key stays in the environment variable it names and is read there.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from ..errors import LabelsyncError

__all__ = ["ServeConfig", "CONFIG_ENV"]

CONFIG_ENV = "LABELSYNC_SERVE_CONFIG"  # the JSON config handed to uvicorn workers
MIB = 1 << 20


@dataclass(frozen=True)
class ServeConfig:
    """How ``labelsync serve`` runs.

    Attributes:
        path: the label store folder or trained run folder to serve (None: review page only).
        host, port: where to listen (loopback by default: nothing outside this machine).
        workers: uvicorn worker processes, each with its own copy of the model.
        batching: share forward passes between requests that arrive together.
        max_batch_size: texts per forward pass, and the most texts one request may send.
        max_wait_ms: how long a forward pass waits for more requests to fill up.
        max_queue: texts accepted and not answered yet; past it requests get 503 + Retry-After.
        max_text_chars: the longest text accepted.
        max_top_k: the most labels a request may ask for.
        max_body_bytes: the largest JSON body; a bigger one is refused before it is read.
        max_upload_bytes: the largest multipart body (``/v1/predict`` feature files).
        api_key_env: name of the environment variable holding the API key (None: no key).
        media_dir: server-side feature or clip paths are read under this folder only (None: off).
        device: ``cpu``, ``cuda`` or None (the library's default).
        threads: CPU threads for torch and FAISS (None: their default, one per core). On a
            busy machine 1 is often fastest: oversubscribed OpenMP threads stall each other.
        oos_detector: out-of-scope detector of a trained run (its saved dev threshold).
        seed: which seed of a run to serve (None: the best on dev).
        shutdown_timeout_s: how long a graceful shutdown waits for requests in flight.
        access_log: log one line per request (uvicorn's access log).
    """

    path: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    batching: bool = True
    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    max_queue: int = 512
    max_text_chars: int = 2000
    max_top_k: int = 50
    max_body_bytes: int = 1 * MIB
    max_upload_bytes: int = 64 * MIB
    api_key_env: str | None = None
    media_dir: str | None = None
    device: str | None = None
    threads: int | None = None
    oos_detector: str | None = None
    seed: int | None = None
    shutdown_timeout_s: float = 30.0
    access_log: bool = False

    def __post_init__(self) -> None:
        positive = ("workers", "max_batch_size", "max_queue", "max_text_chars", "max_top_k")
        for name in positive:
            if getattr(self, name) < 1:
                raise LabelsyncError(f"{name.replace('_', '-')} must be at least 1")
        if self.max_queue < self.max_batch_size:
            raise LabelsyncError(
                f"max-queue ({self.max_queue}) must be at least max-batch-size "
                f"({self.max_batch_size}): a full request must fit in the queue"
            )
        if self.threads is not None and self.threads < 1:
            raise LabelsyncError("threads must be at least 1")
        if self.max_wait_ms < 0:
            raise LabelsyncError("max-wait-ms must not be negative")

    def api_key(self) -> str | None:
        """The key from the environment variable ``api_key_env`` (never stored in the config)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise LabelsyncError(
                f"--api-key-env {self.api_key_env}: that environment variable is not set or empty"
            )
        return key.strip()

    def to_json(self) -> str:
        """The config as JSON (for worker processes)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """The inverse of ``to_json`` (unknown fields are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})
