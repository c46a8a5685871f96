"""Dynamic micro-batching: requests that arrive within a few milliseconds share one forward pass.

Requests ``submit`` their items and wait. One asyncio task, whenever the model is free, takes the
oldest request and adds waiting ones while the batch stays within ``max_batch_size`` items and
``max_wait_s`` has not passed; the batch runs in a single worker thread (the model sees one batch
at a time; the event loop keeps accepting requests meanwhile, and they form the next batch).
Accepted, unanswered items are bounded: a request that would pass ``max_queue`` is refused at
once (``Overloaded``, the server's 503), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import LabelsyncError

__all__ = ["MicroBatcher", "Overloaded"]

logger = logging.getLogger(__name__)


class Overloaded(LabelsyncError):
    """The queue is full: the request was not accepted (retry later)."""


@dataclass
class _Job:
    items: Sequence[Any]
    future: asyncio.Future


class MicroBatcher:
    """Runs ``run_batch(items) -> results`` (one result per item) over requests' items.

    ``max_queue`` bounds the items accepted and not yet answered (waiting or in a forward
    pass). ``batching=False`` runs each request on its own (the benchmark's baseline).
    ``on_batch(n_items, seconds)`` is called after every forward pass (metrics), ``on_pending(n)``
    whenever the number of accepted, unanswered items changes.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Any]], list[Any]],
        *,
        max_batch_size: int = 64,
        max_wait_s: float = 0.005,
        max_queue: int = 512,
        batching: bool = True,
        on_batch: Callable[[int, float], None] | None = None,
        on_pending: Callable[[int], None] | None = None,
    ):
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s if batching else 0.0
        self.max_queue = max_queue
        self.batching = batching
        self.on_batch = on_batch or (lambda *_: None)
        self.on_pending = on_pending or (lambda *_: None)
        self._jobs: collections.deque[_Job] = collections.deque()
        self._pending = 0  # items accepted and not answered yet
        self._arrived: asyncio.Event | None = None
        self._model: asyncio.Lock | None = None  # held while the batch thread is in use
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelsync-batch")

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the batching loop (on the server's event loop)."""
        self._arrived = asyncio.Event()
        self._model = asyncio.Lock()
        self._task = asyncio.create_task(self._loop(), name="labelsync-batcher")

    async def stop(self) -> None:
        """Finish what was accepted, then stop the loop and the worker thread."""
        while self._pending:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the batch thread between two forward passes (e.g. to swap a model)."""
        assert self._model is not None, "MicroBatcher.start() was not awaited"
        async with self._model:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    @property
    def pending(self) -> int:
        """Items accepted and not answered yet."""
        return self._pending

    # -- requests -----------------------------------------------------------------------------
    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """The results for ``items`` (in order), once a forward pass has run them."""
        if not items:
            return []
        if len(items) > self.max_batch_size:
            raise LabelsyncError(
                f"{len(items)} items, over the batch limit of {self.max_batch_size}"
            )
        if self._task is None or self._arrived is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        if self._pending + len(items) > self.max_queue:
            raise Overloaded(f"server busy: {self._pending} texts pending (limit {self.max_queue})")
        job = _Job(items, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._count(len(items))
        self._arrived.set()
        try:
            return await job.future
        finally:
            self._count(-len(items))

    def _count(self, change: int) -> None:
        self._pending += change
        self.on_pending(self._pending)

    def _take(self) -> _Job | None:
        job = self._jobs.popleft()
        return None if job.future.done() else job  # a client that went away is skipped

    # -- the loop -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        assert self._arrived is not None and self._model is not None
        while True:
            if not self._jobs:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            async with self._model:  # batches form when the model is free: all that waited
                batch = await self._gather()
                if batch:
                    await self._run(batch)

    async def _gather(self) -> list[_Job]:
        """The oldest job, plus those that fit and arrive within ``max_wait_s``."""
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        first = self._take() if self._jobs else None
        if first is None:
            return []
        batch, size = [first], len(first.items)
        deadline = loop.time() + self.max_wait_s
        while self.batching and size < self.max_batch_size:
            if self._jobs:
                if size + len(self._jobs[0].items) > self.max_batch_size:
                    break
                job = self._take()
                if job is not None:
                    batch.append(job)
                    size += len(job.items)
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        items = [item for job in batch for item in job.items]
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.run_batch, items)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests, never lost
            self.on_batch(len(items), time.perf_counter() - started)
            if len(batch) == 1:
                _settle(batch[0], exc=exc)
                return
            # One request's bad input must not fail the others: run each on its own.
            logger.debug(
                "batch of %d requests failed (%s); running them one by one", len(batch), exc
            )
            for job in batch:
                await self._run([job])
            return
        self.on_batch(len(items), time.perf_counter() - started)
        start = 0
        for job in batch:
            _settle(job, results[start : start + len(job.items)])
            start += len(job.items)


def _settle(job: _Job, results: list[Any] | None = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # cancelled: the client went away
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(results)
