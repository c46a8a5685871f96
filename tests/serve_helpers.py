"""Shared pieces of the serve and review tests: a real uvicorn server in a thread on a free
127.0.0.1 port, a small MiniLM label store, and a descriptions file."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
import yaml

DESCRIPTIONS = {
    "book_flight": [
        "The user wants to book a plane ticket.",
        "The user reserves a seat on a flight.",
    ],
    "weather": ["The user asks what the weather will be like.", "The user wants the forecast."],
    "alarm": ["The user wants to set an alarm for a time.", "The user asks to be woken up."],
}
MORE = {"transfer": ["The user wants to move money from one account to another."]}


def write_descriptions(path: Path, mapping: dict, source: str | None = None) -> Path:
    records = []
    for label, texts in mapping.items():
        record = {"label": label, "descriptions": texts}
        if source:
            record["source"] = source
        records.append(record)
    path.write_text(yaml.safe_dump({"labels": records}, sort_keys=False))
    return path


class ServerThread:
    """uvicorn serving ``app`` on a socket bound here (no port race), in a daemon thread."""

    def __init__(self, app: Any, **options: Any):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level=options.pop("log_level", "warning"),
            timeout_graceful_shutdown=options.pop("timeout_graceful_shutdown", 10),
            **options,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve(sockets=[self.socket]))
        self.loop.close()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 30) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        """Run ``coroutine`` on the server's event loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def block_batches(self, app: Any) -> threading.Event:
        """Hold the batch thread until the returned event is set (requests queue up meanwhile)."""
        release, holding = threading.Event(), threading.Event()

        def hold() -> None:
            holding.set()
            release.wait(30)

        batcher = app.state.labelsync.batcher
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(batcher.run_exclusive(hold), self.loop)
        assert holding.wait(10)
        return release


def wait_for(predicate, timeout: float = 10.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


def metric(text: str, name: str) -> float:
    """The value of one sample line ``name`` (with its labels) of a Prometheus exposition."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    return 0.0


# --- the review page ------------------------------------------------------------------------------

REVIEW_LABELS = [
    {
        "label": "book_flight",
        "descriptions": [
            "The user wants to book a plane ticket.",
            "The user asks to fly somewhere.",
        ],
        "source": "llm",
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
    },
    {
        "label": "reserve_ticket",
        "descriptions": ["The user wants to book a plane ticket for a trip.", "A train seat."],
        "source": "llm",
    },
    {
        "label": "weather",
        "descriptions": ["The user asks about the news.", "The user wants the forecast."],
        "source": "llm",
    },
    {
        "label": "alarm",
        "descriptions": ["The user wants to set an alarm.", "The user asks to be woken up."],
        "source": "reviewed",
    },
]
DEV_ROWS = [
    ("book me a flight to rome", "book_flight"),
    ("i need a plane ticket for my trip to berlin", "book_flight"),  # wrong until an edit
    ("reserve a train seat to lyon", "reserve_ticket"),
    ("will it rain tomorrow", "weather"),
    ("is it going to be sunny this weekend", "weather"),
    ("wake me up at seven", "alarm"),
    ("what is the meaning of life", "oos"),
]


def write_review_files(folder: Path) -> tuple[Path, Path]:
    """A descriptions YAML (two confusable labels) and a dev TSV with one row they get wrong
    until book_flight's second description is edited (see ``FIX``)."""
    descriptions = folder / "descriptions.yaml"
    descriptions.write_text(yaml.safe_dump({"labels": REVIEW_LABELS}, sort_keys=False))
    dev = folder / "dev.tsv"
    dev.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in DEV_ROWS))
    return descriptions, dev


FIX = ("book_flight", 1, "The user needs a plane ticket for a trip.")  # label, slot, new text
