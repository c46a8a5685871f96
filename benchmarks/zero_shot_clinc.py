"""Zero- and few-shot intent on CLINC150 with the label store: one JSON line per method.

    python benchmarks/zero_shot_clinc.py [--descriptions llm.yaml] [--sweep] [--out rows.jsonl]

Rows report in-scope accuracy and macro F1 (150 classes) and AUROC / FPR95 of in-scope against
the out-of-scope utterances (max label score as the in-scope score). ``--sweep`` first scores
the grid that chose the store's defaults (template x name weight x aggregate, example weight)
on ``val`` (tuning never looks at ``test``). LLM descriptions come from
``labelsync describe --labels clinc150 --out FILE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from labelsync.descriptions import Descriptions  # noqa: E402
from labelsync.labels import LabelSet, normalize_label  # noqa: E402
from labelsync.offline import installed_offline_models  # noqa: E402
from labelsync.store import Embedder, LabelStore, ood_metrics  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"
TEMPLATES = {"plain": "{description}", "prefixed": "{name}: {description}"}
WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


def load_split(data: dict, split: str) -> tuple[list[str], list[str], list[str]]:
    """In-scope texts, their labels, and the out-of-scope texts of ``split``."""
    texts, labels = zip(*data[split], strict=True)
    oos = [text for text, _ in data[f"oos_{split}"]]
    return list(texts), list(labels), oos


def sample_examples(data: dict, shots: int, seed: int = 0) -> dict[str, list[str]]:
    """``shots`` train utterances per label, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in data["train"]:
        by_label.setdefault(label, []).append(text)
    return {
        label: [texts[i] for i in sorted(rng.permutation(len(texts))[:shots])]
        for label, texts in sorted(by_label.items())
    }


def evaluate(store: LabelStore, queries: np.ndarray, gold: list[str], n_in: int, **scoring):
    """Accuracy and macro F1 on the first ``n_in`` queries; AUROC/FPR95 against the rest."""
    from sklearn.metrics import accuracy_score, f1_score

    scores = store.score_vectors(queries, **scoring)
    keys = [normalize_label(name) for name in store.labels]
    predicted = [keys[i] for i in scores[:n_in].argmax(axis=1)]
    gold_keys = [normalize_label(g) for g in gold]
    best = scores.max(axis=1)
    return {
        "accuracy": round(float(accuracy_score(gold_keys, predicted)), 4),
        "macro_f1": round(float(f1_score(gold_keys, predicted, average="macro")), 4),
        **{k: round(v, 4) for k, v in ood_metrics(best[:n_in], best[n_in:]).items()},
    }


def build(source, embedder: Embedder, examples: dict | None = None, **options) -> LabelStore:
    store = LabelStore.build(source, embedder=embedder, **options)
    if examples:
        store.add_examples({label: texts for label, texts in examples.items() if label in store})
    return store


def sweep(data: dict, embedder: Embedder, emit, llm: Descriptions | None = None) -> None:
    """The val grid behind the defaults: template x name weight x aggregate (reviewed and,
    when given, LLM descriptions), then the example weight."""
    texts, gold, oos = load_split(data, "val")
    queries = embedder.encode(texts + oos)
    reviewed = Descriptions.reviewed("clinc150")
    sources = [("reviewed", reviewed)] + ([("llm", llm)] if llm is not None else [])
    for (method, source), (template_name, template) in product(sources, TEMPLATES.items()):
        store = build(source, embedder, template=template)
        for aggregate, weight in product(("max", "mean"), WEIGHTS):
            row = evaluate(
                store, queries, gold, len(texts), name_weight=weight, aggregate=aggregate
            )
            emit(
                {"split": "val", "method": method, "template": template_name,
                 "name_weight": weight, "aggregate": aggregate, "shots": 0, **row}
            )  # fmt: skip
    for shots in (5, 10):
        store = build(reviewed, embedder, sample_examples(data, shots))
        for aggregate in ("max", "mean"):
            for weight in (0.3, 0.5, 0.7, 1.0):
                row = evaluate(
                    store, queries, gold, len(texts), example_weight=weight, aggregate=aggregate
                )
                emit(
                    {"split": "val", "method": "reviewed+examples", "template": "default",
                     "example_weight": weight, "aggregate": aggregate, "shots": shots, **row}
                )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 data_full.json")
    parser.add_argument("--descriptions", type=Path, help="LLM descriptions (labelsync describe)")
    parser.add_argument("--embedders", nargs="*", help="default: the offline ones installed")
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--sweep", action="store_true", help="first score the val grid")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling train examples")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.data.is_file():
        sys.exit(f"CLINC150 not found at {args.data}; pass --data PATH/data_full.json")
    data = json.loads(args.data.read_text(encoding="utf-8"))
    sink = args.out.open("a", encoding="utf-8") if args.out else None

    def emit(row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")

    names = LabelSet.preset("clinc150")
    reviewed = Descriptions.reviewed("clinc150")
    llm = Descriptions.from_yaml(args.descriptions) if args.descriptions else None
    if llm is None:
        print("# note: no --descriptions file given; skipping the LLM-description rows",
              file=sys.stderr)  # fmt: skip
    texts, gold, oos = load_split(data, args.split)
    for embedder_name in args.embedders or installed_offline_models():
        embedder = Embedder(embedder_name)
        if args.sweep:
            sweep(data, embedder, emit, llm)
        started = time.perf_counter()
        queries = embedder.encode(texts + oos)
        encode_s = time.perf_counter() - started
        methods = [("names", names, {}, {}, None)]
        if llm is not None:
            methods += [
                ("llm-descriptions", llm, {"name_weight": 0.0}, {}, None),
                ("names+llm-descriptions", llm, {}, {}, None),
            ]
        methods += [
            ("reviewed-descriptions", reviewed, {"name_weight": 0.0}, {}, None),
            ("names+reviewed-descriptions", reviewed, {}, {}, None),
            ("names+reviewed-descriptions", reviewed, {}, {"index": "hnsw"}, None),
        ]
        for shots in (5, 10):
            examples = sample_examples(data, shots, args.seed)
            methods += [
                (f"names+examples-{shots}", names, {}, {}, examples),
                (f"names+reviewed+examples-{shots}", reviewed, {}, {}, examples),
            ]
        flat_top1: dict[str, np.ndarray] = {}
        for method, source, scoring, options, examples in methods:
            started = time.perf_counter()
            store = build(source, embedder, examples, **options)
            build_s = time.perf_counter() - started
            row = evaluate(store, queries, gold, len(texts), **scoring)
            top1 = store.score_vectors(queries, **scoring).argmax(axis=1)
            if store.index_type == "flat":
                flat_top1[method] = top1
            elif method in flat_top1:  # HNSW: share of texts whose best label matches flat's
                row["top1_agreement_with_flat"] = round(
                    float(np.mean(top1 == flat_top1[method])), 4
                )
            shots = len(next(iter(examples.values()))) if examples else 0
            emit(
                {"method": method, "embedder": embedder.name, "shots": shots, **row,
                 "split": args.split, "index": store.index_type,
                 "name_weight": scoring.get("name_weight", store.name_weight),
                 "aggregate": store.aggregate, "example_weight": store.example_weight,
                 "template": store.template, "build_s": round(build_s, 2),
                 "query_encode_s": round(encode_s, 2), "n_in_scope": len(texts),
                 "n_oos": len(oos)}
            )  # fmt: skip
    if sink:
        sink.close()


if __name__ == "__main__":
    main()
