"""Benchmark `labelsync describe` (prints JSON lines).

1. ``cache``: cold vs cached wall time of ``labelsync describe --labels mintrec`` as the user
   runs it (a fresh process each time, imports included). Goal: cached >= 20x faster.
2. ``speed``: tokens/s and seconds per label of each offline model, from the cache records of
   the cold runs (SmolLM2-135M-Instruct, the default; gemma-3-270m with ``--compare-gemma``).
3. ``zero_shot``: the value of descriptions, CLINC150 test, all 150 labels, cosine with the
   default SentenceBERT through the label store: names only, offline descriptions (alone and
   mixed with names) and the shipped reviewed descriptions. Accuracy, macro F1, and AUROC /
   FPR95 of in-scope vs ``oos_test``. Goal: offline descriptions never below names.

Usage: python benchmarks/describe.py [--skip-zero-shot] [--compare-gemma] [--subset 40]
The CLINC150 descriptions take a few minutes to generate once; later runs reuse the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def run_cli(args: list[str], cache_dir: Path) -> float:
    env = {**os.environ, "LABELSYNC_CACHE_DIR": str(cache_dir)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "labelsync", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def speed_row(cache_dir: Path, model: str) -> dict:
    records = [json.loads(p.read_text()) for p in cache_dir.glob("descriptions/*/*.json")]
    records = [r for r in records if r["model"] == model]
    tokens = sum(r["completion_tokens"] for r in records)
    seconds = sum(r["seconds"] for r in records)
    answers = sum(len(r["raw_answers"]) for r in records)
    return {
        "bench": "speed",
        "model": model,
        "labels": len(records),
        "answers": answers,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "seconds_per_label": round(seconds / max(1, len(records)), 2),
    }


def bench_cache(models: list[str], workdir: Path) -> None:
    for model in models:
        cache_dir = workdir / f"cache-{model}"
        args = ["describe", "--labels", "mintrec", "--model", model]
        args += ["--out", str(workdir / f"{model}.yaml")]
        cold = run_cli(args, cache_dir)
        cached = min(run_cli(args, cache_dir) for _ in range(3))
        from labelsync import Descriptions

        described = len(Descriptions.from_yaml(workdir / f"{model}.yaml"))
        emit(
            {
                "bench": "cache",
                "model": model,
                "labels": 20,
                "described": described,
                "cold_s": round(cold, 2),
                "cached_s": round(cached, 3),
                "speedup": round(cold / cached, 1),
            }
        )
        emit(speed_row(cache_dir, speed_model_name(model)))


def speed_model_name(alias: str) -> str:
    return {
        "smollm2-135m": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
    }[alias]


def bench_zero_shot(cache_dir: Path, model: str, subset: int, seed: int) -> None:
    import random

    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score, roc_curve

    from labelsync import Descriptions, LabelSet, LabelStore, describe

    data = json.loads(CLINC.read_text())
    labels = LabelSet.preset("clinc150")
    if subset:
        labels = LabelSet(sorted(random.Random(seed).sample(labels.names, subset)))
    test = [(t, y) for t, y in data["test"] if y in labels]
    texts = [t for t, _ in test]
    gold = np.array([labels.id(y) for _, y in test])
    oos = [t for t, _ in data["oos_test"]]
    start = time.perf_counter()
    offline = describe(labels, model=model, cache_dir=str(cache_dir))  # failed: name-only
    generated_s = time.perf_counter() - start
    reviewed = Descriptions.reviewed("clinc150").subset(labels)

    def row(method: str, descriptions, name_weight: float, extra: dict | None = None) -> None:
        store = LabelStore.build(descriptions)
        scores = store.scores(texts + oos, name_weight=name_weight, aggregate="max")
        order = [labels.id(name) for name in store.labels]
        pred = np.array(order)[scores[: len(texts)].argmax(axis=1)]
        best = scores.max(axis=1)
        is_in = np.r_[np.ones(len(texts)), np.zeros(len(oos))]
        fpr, tpr, _ = roc_curve(is_in, best)
        emit(
            {
                "bench": "zero_shot",
                "method": method,
                "labels": len(store),
                "name_weight": name_weight,
                "accuracy": round(float((pred == gold).mean()), 4),
                "macro_f1": round(float(f1_score(gold, pred, average="macro")), 4),
                "auroc": round(float(roc_auc_score(is_in, best)), 4),
                "fpr95": round(float(fpr[np.searchsorted(tpr, 0.95)]), 4),
                **(extra or {}),
            }
        )

    # Labels the offline model failed on are in ``offline`` with no descriptions: name only.
    filled = offline
    described = sum(1 for entry in offline.entries() if entry.descriptions)
    info = {"model": model, "described": described, "generate_s": round(generated_s, 1)}
    info["labels_sample"] = f"{subset} random (seed {seed})" if subset else "all"
    row("names", filled, 1.0)
    row("offline_descriptions", filled, 0.0, info)
    row("names+offline_descriptions", filled, 0.7, info)
    row("reviewed_descriptions", reviewed, 0.0)
    row("names+reviewed_descriptions", reviewed, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-gemma", action="store_true")
    parser.add_argument("--skip-zero-shot", action="store_true")
    parser.add_argument("--skip-cache", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "cache")
    parser.add_argument("--subset", type=int, default=0, help="random CLINC150 labels (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = ["smollm2-135m"] + (["gemma3-270m"] if args.compare_gemma else [])
    if not args.skip_cache:
        with tempfile.TemporaryDirectory() as tmp:
            bench_cache(models, Path(tmp))
    if not args.skip_zero_shot:
        if not CLINC.is_file():
            emit({"bench": "zero_shot", "skipped": f"{CLINC} not found"})
            return
        for model in models:
            bench_zero_shot(args.cache_dir, model, args.subset, args.seed)


if __name__ == "__main__":
    main()
