"""Timing optimisation steps for the step benchmarks (``train.py``, ``methods.py``,
``affect.py``): one fixed batch, forward + backward + clipping + optimiser + scheduler."""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any


def time_steps(
    model: Any,
    batch: dict,
    optimizer: Any,
    scheduler: Any,
    device: Any,
    *,
    warmup: int,
    steps: int,
    max_grad_norm: float = 1.0,
) -> dict[str, Any]:
    """Median and fastest of ``steps`` timed steps after ``warmup`` untimed ones, and the peak
    memory of this process (max RSS on CPU, ``max_memory_allocated`` on CUDA)."""
    import torch

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(warmup + steps):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        model(batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if cuda:
            torch.cuda.synchronize()
        if step >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "steps": steps,
        "step_ms_median": round(statistics.median(times), 1),
        "step_ms_min": round(min(times), 1),
        "peak_memory_mb": round(peak, 1),
        "peak_memory_kind": "cuda max_memory_allocated" if cuda else "max RSS",
    }
