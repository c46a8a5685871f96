"""CLI cold start: ``labelsync --help``, ``classify`` on one text (local store and ``--server``),
and where a one-text ``classify`` spends its time. One JSON line per measurement.

    python benchmarks/cli.py [--runs 5] [--store DIR] [--baseline DIR]

Every command runs in a fresh process (``python -m labelsync ...``), as a user runs it: wall
time from ``exec`` to exit, median and min over ``--runs``. ``--baseline DIR``: another checkout
of labelsync (e.g. ``git archive main | tar -x -C DIR``) timed the same way, its runs
interleaved with this checkout's so both see the same machine load. The stage rows time one
fresh process step by step (imports, store load, model load, first encode). The ``--server`` row
starts ``labelsync serve`` for the same store on a free loopback port. The first and last lines
give the machine's load average: the CPU is shared, so read the figures beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = "what's the weather in paris tomorrow"
REPO = Path(__file__).resolve().parents[1]

STAGES = r"""
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
stages, last = {}, time.perf_counter()
def lap(name):
    global last
    now = time.perf_counter(); stages[name] = round(now - last, 3); last = now
import labelsync.cli; lap("import labelsync.cli")
from labelsync.store import LabelStore; lap("import labelsync.store (numpy, faiss)")
store = LabelStore.load(sys.argv[1]); lap("read the store files")
import torch; lap("import torch")
import transformers.modeling_utils; lap("import transformers (modeling)")
import sentence_transformers; lap("import sentence_transformers (+ sklearn, scipy)")
store.embedder; lap("load the MiniLM weights")
store.classify([sys.argv[2]]); lap("first classify (encode + search)")
store.classify([sys.argv[2]]); lap("second classify")
print(json.dumps(stages))
"""


def labelsync_command() -> list[str]:
    return [sys.executable, "-m", "labelsync"]


def cold(argv: list[str], runs: int, env: dict, checkouts: dict[str, Path]) -> dict[str, dict]:
    """Median and min wall seconds of ``argv`` in fresh processes, per checkout (each run from
    that checkout's folder, so ``-m labelsync`` imports its code); runs are interleaved, after
    one warm-up run each that fills the OS file cache."""
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    for attempt in range(runs + 1):
        for name, folder in checkouts.items():
            started = time.perf_counter()
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=300, cwd=folder
            )
            if attempt:
                times[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} ({name}) failed: {done.stderr[-400:]}")
    return {
        name: {"median_s": round(statistics.median(t), 3), "min_s": round(min(t), 3)}
        for name, t in times.items()
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """``labelsync serve STORE`` on a free port, once it answers ``/healthz``."""
    import httpx2

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*labelsync_command(), "serve", str(store), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit("labelsync serve exited before it was ready")
        time.sleep(0.2)
    process.kill()
    raise SystemExit("labelsync serve was not ready after 120 s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command")
    parser.add_argument("--store", type=Path, help="a label store (default: reviewed MIntRec)")
    parser.add_argument("--baseline", type=Path, help="another labelsync checkout to compare")
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    checkouts = {"current": REPO}
    if args.baseline is not None:
        checkouts["baseline"] = args.baseline.resolve()

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)

    emit({"load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    scratch = Path(tempfile.mkdtemp(prefix="labelsync-cli-bench-"))
    try:
        store = args.store
        if store is None:
            store = scratch / "store"
            subprocess.run(
                [*labelsync_command(), "index", "--descriptions", "reviewed:mintrec",
                 "--out", str(store)],
                check=True, capture_output=True, env=env, timeout=600, cwd=REPO,
            )  # fmt: skip
        ls = labelsync_command()
        for name, command in (
            ("labelsync --help", [*ls, "--help"]),
            ("labelsync classify --help", [*ls, "classify", "--help"]),
            ("labelsync classify --store S TEXT", [*ls, "classify", "--store", str(store), TEXT]),
        ):
            for checkout, row in cold(command, args.runs, env, checkouts).items():
                emit({"command": name, "checkout": checkout, "runs": args.runs, **row})
        stages = subprocess.run(
            [sys.executable, "-c", STAGES, str(store), TEXT],
            capture_output=True, text=True, env=env, check=True, timeout=300, cwd=REPO,
        )  # fmt: skip
        for stage, seconds in json.loads(stages.stdout.splitlines()[-1]).items():
            emit({"stage": stage, "checkout": "current", "seconds": seconds})
        process, url = start_server(store, env)
        try:
            command = [*ls, "classify", "--server", url, TEXT]
            row = cold(command, args.runs, env, {"current": REPO})["current"]
            name = "labelsync classify --server URL TEXT"
            emit({"command": name, "checkout": "current", "runs": args.runs, **row})
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    emit({"load_average_1m": round(os.getloadavg()[0], 2)})


if __name__ == "__main__":
    main()
