"""``labelsync serve`` under load: requests/s and p50/p95/p99 latency of ``/v1/classify`` at
concurrency 1, 8 and 32, dynamic batching on vs off. One JSON line per row.

    python benchmarks/serve.py [--store DIR] [--duration 8] [--concurrency 1 8 32]

The server is a real ``labelsync serve`` subprocess on a free loopback port (one text per
request, MiniLM store: reviewed CLINC150 descriptions unless ``--store``). The load generator is
this process: asyncio + httpx2, ``concurrency`` clients each sending the next request as soon as
the previous one is answered, for ``--duration`` seconds per row. The batching-on and -off
servers run side by side and take turns (``--rounds`` per row), so a busy machine's load falls on
both alike. Every phase is time-bounded and the servers are stopped at the end, so the script
ends by itself. The first and
last lines give the load average: the 2 CPU cores are shared, read the figures beside it.
Goals (issue 15): batching on >= 3x the throughput of batching off at concurrency 32; p99 under
250 ms at concurrency 8; no errors at 32.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"
FALLBACK_TEXTS = [
    "book me a flight to rome next friday",
    "what is my checking account balance",
    "will it rain in paris tomorrow",
    "set an alarm for seven in the morning",
    "how do i say thank you in french",
    "transfer 50 dollars to my savings",
    "play some jazz music",
    "what's the capital of australia",
]


def labelsync_command() -> list[str]:
    script = Path(sys.executable).with_name("labelsync")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "labelsync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def texts_to_send() -> list[str]:
    """CLINC150 test utterances (in-scope and out-of-scope) when the shared data is there."""
    if CLINC.is_file():
        data = json.loads(CLINC.read_text(encoding="utf-8"))
        return [text for text, _ in data["test"] + data["oos_test"]]
    return FALLBACK_TEXTS


def start_server(store: Path, batching: bool, extra: list[str]) -> tuple[subprocess.Popen, str]:
    import httpx2

    port = free_port()
    argv = [*labelsync_command(), "serve", str(store), "--port", str(port), *extra]
    if not batching:
        argv.append("--no-batching")
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"labelsync serve exited: {process.stderr.read()[-500:]}")
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("labelsync serve was not ready after 180 s")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def batch_stats(url: str) -> dict[str, float]:
    """Totals of the server's batch-size and forward-pass histograms."""
    import httpx2

    text = httpx2.get(f"{url}/metrics", timeout=5).text
    found = {}
    for name in ("batch_size_sum", "batch_size_count", "forward_seconds_sum"):
        match = re.search(rf"^labelsync_{name} (\S+)$", text, re.MULTILINE)
        found[name] = float(match.group(1)) if match else 0.0
    return found


async def load(url: str, texts: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` closed-loop clients for ``seconds``: latencies (ms) and errors."""
    import httpx2

    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.perf_counter() + seconds
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < stop:
                body = {"texts": [texts[i % len(texts)]], "top_k": 3}
                i += concurrency
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/classify", json=body)
                    if response.status_code != 200:
                        key = str(response.status_code)
                        errors[key] = errors.get(key, 0) + 1
                        continue
                except httpx2.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


def measure(urls: dict[str, str], texts: list[str], concurrency: int, args) -> dict[str, dict]:
    """One row per server: ``args.rounds`` rounds of ``duration / rounds`` seconds, the servers
    taking turns round by round (so a shared machine's load falls on both alike), each round
    after a short warm-up."""
    totals = {
        name: {"latencies": [], "errors": {}, "wall": 0.0, "before": None, "after": None}
        for name in urls
    }
    seconds = args.duration / args.rounds
    for _ in range(args.rounds):
        for name, url in urls.items():
            total = totals[name]
            asyncio.run(load(url, texts, concurrency, args.warmup / args.rounds))
            before = batch_stats(url)
            result = asyncio.run(load(url, texts, concurrency, seconds))
            after = batch_stats(url)
            total["latencies"] += result["latencies"]
            total["wall"] += result["wall"]
            for kind, count in result["errors"].items():
                total["errors"][kind] = total["errors"].get(kind, 0) + count
            delta = {k: after[k] - before[k] for k in after}
            total["delta"] = {k: total.get("delta", {}).get(k, 0.0) + v for k, v in delta.items()}
    return {name: summary(total) for name, total in totals.items()}


def summary(total: dict) -> dict:
    lat = np.array(total["latencies"]) if total["latencies"] else np.array([np.nan])
    delta, wall = total["delta"], total["wall"]
    batches = delta["batch_size_count"]
    per_batch = (lambda value: round(value / batches, 2)) if batches else (lambda value: None)
    return {
        "requests": len(total["latencies"]),
        "errors": sum(total["errors"].values()),
        "error_kinds": total["errors"],
        "rps": round(len(total["latencies"]) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "mean_batch_size": per_batch(delta["batch_size_sum"]),
        "mean_forward_ms": per_batch(1000 * delta["forward_seconds_sum"]),
        # share of the wall time the model thread spent in forward passes
        "model_busy": round(delta["forward_seconds_sum"] / wall, 2),
    }


CEILING = r"""
import json, sys, time
import torch
from labelsync.store import LabelStore
store, threads = LabelStore.load(sys.argv[1]), int(sys.argv[3])
texts = json.loads(open(sys.argv[2], encoding="utf-8").read())
if threads:
    torch.set_num_threads(threads)
store.classify(texts[:32])
times = {1: [], 32: []}
for turn in range(6):  # interleaved, so both sizes see the same load
    for n in times:
        chunk = texts[turn * 32 : turn * 32 + n]
        started = time.perf_counter()
        store.classify(chunk)
        times[n].append((time.perf_counter() - started) / n)
best = {n: 1000 * sorted(t)[len(t) // 2] for n, t in times.items()}
print(json.dumps({"model_only_ms_per_text_batch_1": round(best[1], 2),
                  "model_only_ms_per_text_batch_32": round(best[32], 2),
                  "model_only_batch_gain": round(best[1] / best[32], 2)}))
"""


def model_ceiling(store: Path, texts: list[str], server_args: str) -> dict:
    """What batching can gain at most: the store's per-text time in one process, one text per
    call vs 32 per call (median of 6 interleaved rounds), with the server's thread setting."""
    words = server_args.split()
    threads = words[words.index("--threads") + 1] if "--threads" in words else "0"
    sample = store.parent / "ceiling-texts.json"
    sample.write_text(json.dumps(texts[:192]), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", CEILING, str(store), str(sample), threads],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"model-only timing failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="label store (default: reviewed CLINC150)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per row")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds of warm-up per row")
    parser.add_argument("--rounds", type=int, default=4, help="on/off turns per row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--server-args", default="", help="extra 'labelsync serve' options")
    args = parser.parse_args(argv)

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)

    emit(
        {"load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "phase": "start"}
    )
    scratch = Path(tempfile.mkdtemp(prefix="labelsync-serve-bench-"))
    rows = {}
    try:
        store = args.store
        if store is None:
            store = scratch / "store"
            subprocess.run(
                [*labelsync_command(), "index", "--descriptions", "reviewed:clinc150",
                 "--out", str(store)],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
        texts = texts_to_send()
        emit(model_ceiling(store, texts, args.server_args))
        servers = {}
        try:
            for name, batching in (("on", True), ("off", False)):
                servers[name] = start_server(store, batching, args.server_args.split())
            urls = {name: url for name, (_, url) in servers.items()}
            for concurrency in args.concurrency:
                for name, row in measure(urls, texts, concurrency, args).items():
                    rows[(name == "on", concurrency)] = row
                    emit({"batching": name, "concurrency": concurrency,
                          "seconds": args.duration, **row})  # fmt: skip
        finally:
            for process, _ in servers.values():
                stop_server(process)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    top = max(args.concurrency)
    on, off = rows.get((True, top)), rows.get((False, top))
    if on and off:
        ratio = on["rps"] / off["rps"] if off["rps"] else None
        goal = f"batching on >= 3x off at concurrency {top}"
        ratio = round(ratio, 2) if ratio else None
        emit({"goal": goal, "ratio": ratio, "met": bool(ratio and ratio >= 3)})
    if (True, 8) in rows:
        p99 = rows[(True, 8)]["p99_ms"]
        emit({"goal": "p99 < 250 ms at concurrency 8 (batching on)", "p99_ms": p99,
              "met": p99 < 250})  # fmt: skip
    if on:
        emit({"goal": f"no errors at concurrency {top} (batching on)", "errors": on["errors"],
              "met": on["errors"] == 0})  # fmt: skip
    emit({"load_average_1m": round(os.getloadavg()[0], 2), "phase": "end"})


if __name__ == "__main__":
    main()
