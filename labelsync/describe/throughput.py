"""Requests and tokens of one ``describe`` run, counted across worker threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Throughput"]


@dataclass
class Throughput:
    """Requests and tokens of one ``run``, counted across worker threads (for progress bars)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float | None = None
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.requests += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def start(self) -> None:
        self.started, self.finished = time.perf_counter(), None

    def stop(self) -> None:
        if self.started is not None and self.finished is None:
            self.finished = time.perf_counter()

    def rates(self) -> tuple[float, float]:
        """(requests/s, completion tokens/s) over the wall time of the generation so far."""
        with self._lock:
            requests, tokens = self.requests, self.completion_tokens
        if self.started is None:
            return 0.0, 0.0
        seconds = max((self.finished or time.perf_counter()) - self.started, 1e-9)
        return requests / seconds, tokens / seconds
