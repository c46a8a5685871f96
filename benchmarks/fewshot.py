"""Few-shot label stores on CLINC150: fitting the embedder (SetFit-style) or not; JSON lines.

    nice python benchmarks/fewshot.py [--shots 1 2 5 10] [--seeds 0 1 2] [--embedder minilm]
        [--split test] [--threads 1] [--out rows.jsonl]

For each K and seed, K train utterances per label (150 labels, a seeded sample) go into a store
with the shipped reviewed descriptions, and the rows report accuracy and macro F1 on the split's
in-scope texts and AUROC against its ``oos`` texts (best nearest-label score), plus the shares
kept / caught by the store's default out-of-scope threshold, for:

- ``store``: the store without fit (examples scored as nearest neighbours);
- ``fit``: the body fitted on the examples alone;
- ``fit+anchors``: fitted with the label names and descriptions as anchors (the default);
- ``fit+anchors+logistic``: the same body, labels ranked by the logistic head.

Fit rows add wall time, pairs and the peak RSS of this process so far (``ru_maxrss``); every
row carries the load average, since the machine may be shared. A ``summary`` row per K and
method gives mean and standard deviation over the seeds. Use ``--split val`` for choices.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from labelsync.descriptions import Descriptions  # noqa: E402
from labelsync.labels import LabelSet  # noqa: E402
from labelsync.serve.review.embedding import CachingEmbedder  # noqa: E402 - each text once
from labelsync.store import LabelStore, ood_metrics  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"
METHODS = ("store", "fit", "fit+anchors", "fit+anchors+logistic")


def sample_examples(data: dict, shots: int, seed: int) -> dict[str, list[str]]:
    """``shots`` train utterances per label, drawn with a fixed seed (as zero_shot_clinc.py)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in data["train"]:
        by_label.setdefault(label, []).append(text)
    return {
        label: [texts[i] for i in sorted(rng.permutation(len(texts))[:shots])]
        for label, texts in sorted(by_label.items())
    }


def evaluate(store: LabelStore, texts: list[str], gold: list[str], oos: list[str]) -> dict:
    """Nearest-label (and, with a head, logistic) accuracy and macro F1; AUROC; default OOS."""
    from sklearn.metrics import f1_score

    queries = store.embedder.encode(texts + oos)
    n = len(texts)
    scores = store.score_vectors(queries)
    best = scores.max(axis=1)
    threshold = store.threshold
    shared = {
        "auroc": round(ood_metrics(best[:n], best[n:])["auroc"], 4),
        "threshold": round(threshold, 4),
        "in_scope_kept": round(float(np.mean(best[:n] >= threshold)), 4),
        "oos_caught": round(float(np.mean(best[n:] < threshold)), 4),
    }
    rankings = {"nearest": scores}
    if store.head is not None:
        rankings["logistic"] = store.head.probabilities(queries)
    result = {}
    for name, ranking in rankings.items():
        predicted = [store.labels[i] for i in ranking[:n].argmax(axis=1)]
        result[name] = {
            "accuracy": round(
                float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)])), 4
            ),
            "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4),
            **shared,
        }
    return result


def _setting(item: str) -> tuple[str, object]:
    """``KEY=VALUE``: the value as JSON when it parses (numbers, true/false), else text."""
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 data_full.json")
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--names-only", action="store_true", help="no descriptions, names only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared CPU: 1)")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="FitConfig settings, e.g. learning_rate=5e-5 max_pairs=4000",
    )
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    if not args.data.is_file():
        sys.exit(f"CLINC150 not found at {args.data}; pass --data PATH/data_full.json")
    data = json.loads(args.data.read_text(encoding="utf-8"))
    settings = dict(_setting(item) for item in args.set)
    sink = args.out.open("a", encoding="utf-8") if args.out else None

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)
        if sink:
            sink.write(json.dumps(row) + "\n")

    source = LabelSet.preset("clinc150") if args.names_only else Descriptions.reviewed("clinc150")
    texts, gold = (list(part) for part in zip(*data[args.split], strict=True))
    oos = [text for text, _ in data[f"oos_{args.split}"]]
    embedder = CachingEmbedder(args.embedder)
    results: dict[tuple[int, str], list[dict]] = {}
    for shots in args.shots:
        for seed in args.seeds:
            examples = sample_examples(data, shots, seed)
            base = {
                "embedder": embedder.name,
                "split": args.split,
                "shots": shots,
                "seed": seed,
                "descriptions": "none" if args.names_only else "reviewed",
            }
            runs = [("store", None)]
            if "fit" in args.methods:
                runs.append(("fit", {"anchors": False}))
            if {"fit+anchors", "fit+anchors+logistic"} & set(args.methods):
                runs.append(("fit+anchors", {"anchors": True, "head": "logistic"}))
            for method, fit in runs:
                store = LabelStore.build(source, embedder=embedder)
                store.add_examples(examples)
                cost = {}
                if fit is not None:
                    load, started = os.getloadavg()[0], time.perf_counter()
                    info = store.fit(seed=seed, progress=False, **{**settings, **fit})
                    cost = {
                        "fit_s": round(time.perf_counter() - started, 1),
                        "pairs": info["pairs"],
                        "peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                        ),
                        "config": info["config"],
                        "load_avg_at_start": round(load, 2),
                    }
                for ranking, row in evaluate(store, texts, gold, oos).items():
                    name = method if ranking == "nearest" else f"{method}+{ranking}"
                    if name not in args.methods:
                        continue
                    row = {
                        **base,
                        "method": name,
                        **row,
                        **cost,
                        "load_avg": round(os.getloadavg()[0], 2),
                    }
                    results.setdefault((shots, name), []).append(row)
                    emit(row)
    for (shots, method), rows in results.items():
        summary = {
            "summary": True,
            "embedder": embedder.name,
            "split": args.split,
            "shots": shots,
            "method": method,
            "seeds": len(rows),
        }
        for key in ("accuracy", "macro_f1", "auroc", "in_scope_kept", "oos_caught", "fit_s"):
            values = [row[key] for row in rows if key in row]
            if values:
                summary[key] = round(float(np.mean(values)), 4)
                summary[f"{key}_std"] = round(float(np.std(values)), 4)
        emit(summary)
    if sink:
        sink.close()


if __name__ == "__main__":
    main()
