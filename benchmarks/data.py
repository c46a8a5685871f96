"""Load time and peak memory of MIntRec2.0-shaped data with features: one JSON line per size.

    python benchmarks/data.py [--sizes 1000 4000 16000] [--formats safetensors npz] [--dir TMP]

For each size N a child process writes synthetic MIntRec2.0 TSVs (70% in-scope / 30% out-of-scope,
train/dev/test 60/15/25) in the release layout (in-scope/ and out-of-scope/MIntRec2.0-OOD/, each
with its own swin_roi / wavlm_feats files) and video (180 x 256) + audio (400 x 768) float32
features, streamed one key at a time (16k samples are about 22.6 GB: more than this machine's
RAM). A second child process runs ``load_dataset`` and then collates ``--batches`` random batches
of 8 (padded to 180 / 400).
Each child reports its own peak RSS (``ru_maxrss``), so sizes do not contaminate each other; the
baseline is the child's peak after its imports. After the batches, RSS is split into anonymous
memory and file-backed pages of the memory-mapped feature files (shared, reclaimable page cache).
If the disk has too little room a size is scaled down and the row says so. The data lives under a
temp dir that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VIDEO, AUDIO = (180, 256), (400, 768)
BYTES_PER_SAMPLE = (VIDEO[0] * VIDEO[1] + AUDIO[0] * AUDIO[1]) * 4
DISK_MARGIN = 4 * 2**30  # leave this much free
SUFFIX = {"safetensors": ".safetensors", "npz": ".npz"}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> dict[str, float]:
    """Current anonymous (heap) and file-backed (mapped file pages) RSS from /proc, in MiB."""
    status = Path("/proc/self/status")
    if not status.exists():
        return {}
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("rss_anon_mb", "RssAnon"), ("rss_file_mb", "RssFile"))
        if key in fields
    }


def split_sizes(total: int) -> tuple[dict[str, int], dict[str, int]]:
    """In-scope and out-of-scope split sizes (70/30, then train/dev/test 60/15/25) summing to N."""
    in_scope = round(total * 0.7)
    parts = []
    for count in (in_scope, total - in_scope):
        train, dev = round(count * 0.6), round(count * 0.15)
        parts.append({"train": train, "dev": dev, "test": count - train - dev})
    return parts[0], parts[1]


def child_write(root: str, total: int, fmt: str) -> dict:
    from labelsync.data.synthetic import write_mintrec2

    start = time.perf_counter()
    in_sizes, oos_sizes = split_sizes(total)
    write_mintrec2(
        root,
        in_sizes,
        oos_sizes,
        features=fmt,
        video_dim=VIDEO[1],
        audio_dim=AUDIO[1],
        video_frames=VIDEO[0],
        audio_frames=AUDIO[0],
    )
    return {
        "write_s": round(time.perf_counter() - start, 2),
        "writer_peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_load(root: str, batches: int) -> dict:
    import datasets
    import numpy as np
    import torch  # noqa: F401 - imported before the baseline: the collator returns tensors

    from labelsync.data.loading import load_dataset  # its imports are not part of loading

    datasets.Dataset.from_dict({"warm": [1]})  # pyarrow's lazy set-up, also not loading
    baseline = peak_rss_mb()
    start = time.perf_counter()
    dataset = load_dataset("mintrec2", root)
    load_s = time.perf_counter() - start
    after_load = peak_rss_mb()
    collate = dataset.collator()
    train = dataset["train"]
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(batches):
        rows = train.select(rng.choice(len(train), size=8, replace=False).tolist())
        batch = collate(list(rows))
    batch_s = (time.perf_counter() - start) / max(batches, 1)
    assert tuple(batch["video"].shape) == (8, *VIDEO) and tuple(batch["audio"].shape) == (8, *AUDIO)
    return {
        "samples_loaded": sum(len(split) for split in dataset.splits.values()),
        "load_s": round(load_s, 3),
        "baseline_rss_mb": round(baseline, 1),
        "load_peak_rss_mb": round(after_load, 1),
        "load_rss_delta_mb": round(after_load - baseline, 1),
        "batch_ms": round(batch_s * 1000, 1),
        "after_batches_peak_rss_mb": round(peak_rss_mb(), 1),
        **{f"after_batches_{k}": v for k, v in rss_now_mb().items()},
    }


def run_child(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(size: int, fmt: str, base_dir: str, batches: int) -> dict:
    row: dict = {"bench": "data_load", "format": fmt, "requested_samples": size}
    free = shutil.disk_usage(base_dir).free
    room = max(0, free - DISK_MARGIN) // int(BYTES_PER_SAMPLE * 1.01)
    if size > room:
        row["note"] = f"scaled down from {size}: {free / 2**30:.1f} GiB free on {base_dir}"
        size = int(room)
    row["samples"] = size
    if size < 50:
        row["note"] = row.get("note", "") + "; too little disk, skipped"
        return row
    root = tempfile.mkdtemp(prefix="labelsync-bench-", dir=base_dir)
    try:
        row.update(run_child("write", root, str(size), fmt))
        feature_bytes = sum(p.stat().st_size for p in Path(root).rglob(f"*{SUFFIX[fmt]}"))
        row["feature_gb"] = round(feature_bytes / 1e9, 2)
        row.update(run_child("load", root, str(batches)))
        row["load_rss_delta_per_feature_gb"] = round(
            row["load_rss_delta_mb"] / max(feature_bytes / 1e9, 1e-9), 2
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return row


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        if kind == "write":
            result = child_write(rest[0], int(rest[1]), rest[2])
        else:
            result = child_load(rest[0], int(rest[1]))
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--formats", nargs="+", default=["safetensors"], choices=sorted(SUFFIX))
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the temp data goes")
    parser.add_argument("--batches", type=int, default=20, help="batches of 8 to collate")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for size in args.sizes:
        for fmt in args.formats:
            print(json.dumps(bench(size, fmt, args.dir, args.batches)), flush=True)


if __name__ == "__main__":
    main()
