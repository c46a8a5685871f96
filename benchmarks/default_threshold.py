"""The label store's default out-of-scope threshold on CLINC150: one JSON line per store.

    python benchmarks/default_threshold.py [--embedders minilm mpnet] [--out rows.jsonl]

A store without calibration data flags a text out of scope when its best label score is below
mean + spread * sd of the wrong-label scores of the store's own label names
(``labelsync.store.threshold``). For names-only, reviewed-description and few-shot stores
(2/5/10 train examples per label, seed 0) this prints, per spread, the share of in-scope texts
kept and of ``oos`` texts caught on ``val``, where the spreads were chosen (the goal: at least
90% of in-scope texts kept and at least half of the oos texts caught), then one ``test`` row
per store at the spread the store's rule picks, with in-scope accuracy and AUROC. The shipped
reviewed descriptions were written from training utterances, so those rows are not zero-shot in
the strict sense. (Fitted stores: ``benchmarks/fewshot.py``.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from labelsync.descriptions import Descriptions  # noqa: E402
from labelsync.labels import LabelSet, normalize_label  # noqa: E402
from labelsync.offline import installed_offline_models  # noqa: E402
from labelsync.serve.review.embedding import CachingEmbedder  # noqa: E402 - each text once
from labelsync.store import Embedder, LabelStore, ood_metrics  # noqa: E402
from labelsync.store.threshold import default_threshold  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"
SPREADS = (1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)


def stores(data: dict, embedder: Embedder):
    """``(name, store)`` for names only, reviewed descriptions, and both with train examples."""
    by_label: dict[str, list[str]] = {}
    for text, label in data["train"]:
        by_label.setdefault(label, []).append(text)
    rng = np.random.default_rng(0)
    order = {label: rng.permutation(len(texts)) for label, texts in sorted(by_label.items())}
    names, reviewed = LabelSet.preset("clinc150"), Descriptions.reviewed("clinc150")
    for name, source, shots in [
        ("names", names, 0),
        ("reviewed", reviewed, 0),
        ("names+5", names, 5),
        ("reviewed+2", reviewed, 2),
        ("reviewed+5", reviewed, 5),
        ("reviewed+10", reviewed, 10),
    ]:
        store = LabelStore.build(source, embedder=embedder)
        if shots:
            picked = {
                label: [texts[i] for i in sorted(order[label][:shots])]
                for label, texts in by_label.items()
            }
            store.add_examples(picked)
        yield name, store


def measure(store: LabelStore, queries: np.ndarray, gold: list[str], threshold: float) -> dict:
    n = len(gold)
    scores = store.score_vectors(queries)
    best = scores.max(axis=1)
    keys = [normalize_label(name) for name in store.labels]
    predicted = [keys[i] for i in scores[:n].argmax(axis=1)]
    accuracy = np.mean([p == normalize_label(g) for p, g in zip(predicted, gold, strict=True)])
    return {
        "threshold": round(threshold, 4),
        "in_scope_kept": round(float(np.mean(best[:n] >= threshold)), 4),
        "oos_caught": round(float(np.mean(best[n:] < threshold)), 4),
        "accuracy": round(float(accuracy), 4),
        "auroc": round(ood_metrics(best[:n], best[n:])["auroc"], 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 data_full.json")
    parser.add_argument("--embedders", nargs="*", help="default: the offline ones installed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared CPU: 1)")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    if not args.data.is_file():
        sys.exit(f"CLINC150 not found at {args.data}; pass --data PATH/data_full.json")
    data = json.loads(args.data.read_text(encoding="utf-8"))
    sink = args.out.open("a", encoding="utf-8") if args.out else None

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)
        if sink:
            sink.write(json.dumps(row) + "\n")

    for embedder_name in args.embedders or installed_offline_models():
        embedder = CachingEmbedder(embedder_name)
        splits = {}
        for split in ("val", "test"):
            texts, gold = zip(*data[split], strict=True)
            oos = [text for text, _ in data[f"oos_{split}"]]
            splits[split] = (embedder.encode(list(texts) + oos), list(gold))
        for name, store in stores(data, embedder):
            names = store.vectors.name_vectors()
            name_scores = store.score_vectors(names)
            base = {"embedder": embedder.name, "store": name}
            for spread in SPREADS:
                threshold = default_threshold(name_scores, spread).value
                row = measure(store, *splits["val"], threshold)
                emit({**base, "split": "val", "spread": spread, **row})
            emit(
                {
                    **base,
                    "split": "test",
                    "spread": store.threshold_info.details["spread"],
                    **measure(store, *splits["test"], store.threshold),
                }
            )
    if sink:
        sink.close()


if __name__ == "__main__":
    main()
