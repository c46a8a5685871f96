"""Scaling figures, one JSON line each: training samples/s with 1 and 2 CPU processes, describe
requests/s at concurrency 1 / 8 / 32 against a local OpenAI-compatible server, and (when a GPU is
present) a bf16 training step and a faiss-gpu query, reported with the device name.

    python benchmarks/scale.py [--train-samples 512] [--batch-size 8] [--epochs 2]
    python benchmarks/scale.py --skip-train --labels 400 --latency 0.05

Training: the real ``Trainer`` pieces (accelerate, ``AMessModel`` with label attention and
semantic sync, text only, MiniLM) on a synthetic MIntRec text layout; every variant runs in
its own process group launched by ``torch.distributed.run`` (gloo), and the last of
``--epochs`` epochs is timed (the first warms up). Rows: ``{"bench": "train", "processes",
"threads_per_process", "samples_per_s"}`` and the ratio 2 processes / 1 process at one thread
each (goal >= 1.6x, limit 2.0x); 1 process with 2 threads is reported beside it.

Describe: a threaded stdlib HTTP server on 127.0.0.1 answers every chat request after
``--latency`` seconds (a stand-in for a vLLM server's generation time) with valid
descriptions; ``labelsync.describe`` runs the openai backend over ``--labels`` synthetic labels
(empty cache, guard off) at each concurrency, plus one row batching ``--labels-per-request``
labels into each request. Rows ``{"bench": "describe", "concurrency", "labels_per_request",
"requests_per_s", "tokens_per_s", "labels_per_s"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


# --- training ---------------------------------------------------------------------------------


def train_worker(args: argparse.Namespace) -> None:
    """One process of a (torchrun-launched) group: time the last epoch, rank 0 prints a row."""
    import torch
    from accelerate.utils import set_seed
    from transformers import AutoTokenizer

    from labelsync.offline import resolve_model_path
    from labelsync.training import TrainConfig, Trainer
    from labelsync.training.accelerator import make_accelerator
    from labelsync.training.inputs import make_optimizer

    torch.set_num_threads(args.threads)
    config = TrainConfig(
        dataset="mintrec",
        data_dir=args.data_dir,
        encoder="minilm",
        use_label_attention=True,  # as measured before the a-mess preset dropped it
        reviewed_descriptions=True,
        batch_size=args.batch_size,
        epochs=args.epochs,
        cpu=args.device == "cpu",
        mixed_precision=args.mixed_precision,
        progress=False,
    )
    accelerator = make_accelerator(config)
    trainer = Trainer(config, Path(args.out), accelerator=accelerator)
    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.encoder))
    model = trainer.build_model()
    loader = trainer.loader("train", tokenizer, seed=0)
    optimizer, scheduler = make_optimizer(config, model, len(loader))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        loader.set_epoch(epoch)
        accelerator.wait_for_everyone()
        started = time.perf_counter()
        trainer._train_epoch(model, optimizer, scheduler, loader, (0, epoch, {"epoch": 0}), int)
        accelerator.wait_for_everyone()
        seconds = time.perf_counter() - started
    samples = len(trainer.dataset.splits["train"])
    if accelerator.is_main_process:
        row = {
            "bench": "train",
            "device": args.device_name,
            "processes": accelerator.num_processes,
            "threads_per_process": args.threads,
            "mixed_precision": args.mixed_precision,
            "batch_per_process": args.batch_size,
            "samples": samples,
            "epoch_seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 2),
        }
        print("ROW " + json.dumps(row), flush=True)


def run_train(args, processes: int, threads: int, data_dir: Path, tmp: Path, **extra) -> dict:
    out = tmp / f"run-{processes}x{threads}-{extra.get('mixed_precision', 'no')}"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc_per_node={processes}", __file__, "--worker"]
    command += ["--data-dir", str(data_dir), "--out", str(out), "--threads", str(threads)]
    command += ["--batch-size", str(args.batch_size), "--epochs", str(args.epochs)]
    command += ["--device", extra.get("device", "cpu"), "--device-name", extra.get("name", "cpu")]
    command += ["--mixed-precision", extra.get("mixed_precision", "no")]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    rows = [line[4:] for line in done.stdout.splitlines() if line.startswith("ROW ")]
    if done.returncode or not rows:
        raise SystemExit(f"training worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(rows[-1])


def bench_train(args, tmp: Path) -> None:
    from labelsync.data.synthetic import write_mintrec

    data_dir = write_mintrec(tmp / "mintrec", {"train": args.train_samples, "dev": 8, "test": 8})
    rows = {}
    for processes, threads in ((1, 1), (2, 1), (1, 2)):
        rows[(processes, threads)] = run_train(args, processes, threads, data_dir, tmp)
        emit(rows[(processes, threads)])
    one, two = rows[(1, 1)]["samples_per_s"], rows[(2, 1)]["samples_per_s"]
    emit(
        {
            "bench": "train_ratio",
            "two_processes_over_one": round(two / one, 3),
            "goal": 1.6,
            "limit": 2.0,
            "two_processes_over_one_process_two_threads": round(
                two / rows[(1, 2)]["samples_per_s"], 3
            ),
            "cpu_cores": os.cpu_count(),
        }
    )
    import torch

    if torch.cuda.is_available() and not args.skip_gpu:
        name = torch.cuda.get_device_name(0)
        for precision in ("no", "bf16"):
            extra = {"device": "cuda", "name": name, "mixed_precision": precision}
            emit(run_train(args, 1, 1, data_dir, tmp, **extra))


# --- describe ---------------------------------------------------------------------------------


def _answer(prompt: str) -> str:
    tail = prompt.rsplit("Label:", 1)[-1] if "Label:" in prompt else prompt
    tail = tail.rsplit("in the same format:", 1)[-1]
    labels = [line.strip() for line in tail.strip().splitlines() if line.strip()]
    parts = []
    for label in labels or ["intent"]:
        word = label.lower()
        parts.append(
            f"{label}:\n1. The speaker clearly means {word} in this first sense.\n"
            f"2. Someone says something to {word} with other words entirely.\n"
            f"3. A third distinct way to express {word} during a conversation."
        )
    return "\n\n".join(parts)


def start_server(latency: float) -> tuple[ThreadingHTTPServer, str]:
    """An OpenAI-compatible chat endpoint answering after ``latency`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self._send({"object": "list", "data": [{"id": "bench"}]})

        def do_POST(self):
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep(latency)
            content = _answer(payload["messages"][-1]["content"])
            self._send(
                {
                    "id": "bench",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": "bench",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 60, "total_tokens": 180},
                }
            )

        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def bench_describe(args, tmp: Path) -> None:
    from labelsync.describe.describer import DescribeConfig, Describer

    httpd, url = start_server(args.latency)
    labels = [f"intent number {i:04d}" for i in range(args.labels)]
    try:
        settings = [(c, 1) for c in args.concurrency]
        settings += [(c, args.labels_per_request) for c in args.concurrency[-1:]]
        for concurrency, per_request in settings:
            config = DescribeConfig(
                backend="openai",
                model="bench",
                base_url=url,
                concurrency=concurrency,
                labels_per_request=per_request,
                guard=False,
                cache_dir=str(tmp / f"cache-{concurrency}-{per_request}"),
            )
            describer = Describer(config)
            started = time.perf_counter()
            result, failures = describer.run(labels)
            seconds = time.perf_counter() - started
            describer.backend.close()
            meter = describer.throughput
            emit(
                {
                    "bench": "describe",
                    "concurrency": concurrency,
                    "labels_per_request": per_request,
                    "labels": len(labels),
                    "described": len(result) - len(failures),
                    "requests": meter.requests,
                    "server_latency_s": args.latency,
                    "seconds": round(seconds, 3),
                    "requests_per_s": round(meter.requests / seconds, 2),
                    "tokens_per_s": round(meter.completion_tokens / seconds, 1),
                    "labels_per_s": round(len(labels) / seconds, 1),
                }
            )
    finally:
        httpd.shutdown()
        httpd.server_close()


def bench_faiss_gpu() -> None:
    import numpy as np

    from labelsync.store import index as faiss_index

    if not faiss_index.gpu_available():
        emit({"bench": "faiss_gpu", "skipped": "faiss-gpu not installed or no GPU"})
        return
    import torch

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((100_000, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss_index.new_index(384, "flat")
    faiss_index.add(index, vectors, np.arange(len(vectors)))
    row = {"bench": "faiss_gpu", "device": torch.cuda.get_device_name(0), "vectors": 100_000}
    for name, searcher in (("cpu", index), ("gpu", faiss_index.to_gpu(index))):
        query = vectors[:1]
        faiss_index.search(searcher, query, 10)
        times = []
        for i in range(200):
            started = time.perf_counter()
            faiss_index.search(searcher, vectors[i : i + 1], 10)
            times.append(time.perf_counter() - started)
        row[f"{name}_p50_ms"] = round(1000 * float(np.median(times)), 3)
    emit(row)


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--device-name", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--mixed-precision", default="no", help=argparse.SUPPRESS)
    parser.add_argument("--train-samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--epochs", type=int, default=2, help="the last one is timed")
    parser.add_argument("--labels", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument(
        "--labels-per-request", type=int, default=5, help="the batched row (last concurrency)"
    )
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-describe", action="store_true")
    parser.add_argument("--skip-gpu", action="store_true")
    args = parser.parse_args()
    if args.worker:
        train_worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_describe:
            bench_describe(args, Path(tmp))
        if not args.skip_train:
            bench_train(args, Path(tmp))
        if not args.skip_gpu:
            bench_faiss_gpu()


if __name__ == "__main__":
    main()
