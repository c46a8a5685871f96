"""Multi-label intent on MixCLINC: micro-F1, Hamming loss and wall time per preset, JSON lines.

    python benchmarks/tasks.py [--labels 10 150] [--presets text a-mess carat le-mer]
        [--epochs 3] [--encoder minilm] [--scale 1.0] [--threads 2]
        [--data-dir ../shared/data/clinc150]

MixCLINC is built here from CLINC150's ``data_full.json`` the way MixATIS/MixSNIPS were built
from ATIS/SNIPS: 70% of the rows join two utterances of different intents with "and", the rest
are single utterances; train/dev/test rows come from CLINC150's train/val/test utterances
(``labelsync.data.synthetic_tasks.write_mixclinc``, seed 0). The first 10 labels are a fixed
list; 150 is every in-scope intent. Sizes per label (``--scale`` multiplies them): 40 train,
10 dev, 20 test rows.

Every run trains with ``--task multi_label`` (one sigmoid per label, BCE; thresholds per label
chosen on dev) and the hand-written CLINC150 descriptions (``Descriptions.reviewed``), on the CPU
unless a GPU is there. One line per (labels, preset): test micro-F1, Hamming loss, example-based
accuracy, macro-F1, the best trivial baseline (every row answered with the k most frequent train
labels, best k), wall time of the whole run (model load, descriptions, training, test) and the
training time alone. ``text`` is the text-only preset, ``a-mess`` the default (on text-only data
A-ME has nothing to fuse: the encoder + semantic synchronisation with the triplet loss, several
positives per row). ``carat`` (text only: M = 1) and ``le-mer`` (label-token attention) are
the seed methods; a preset that is not installed gets a "preset not available" row.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labelsync.data.synthetic_tasks import MIXCLINC_LABELS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PER_LABEL = {"train": 40, "dev": 10, "test": 20}


def trivial_micro_f1(folder: Path, names: list[str]) -> float:
    """The best micro-F1 of answering every test row with the k most frequent train labels."""
    import csv

    import numpy as np

    from labelsync.training.task_metrics import multilabel_metrics

    def sets(split: str) -> list[list[str]]:
        with open(folder / f"{split}.csv", encoding="utf-8") as handle:
            return [row["labels"].split("|") for row in csv.DictReader(handle)]

    order = [n for n, _ in Counter(n for s in sets("train") for n in s).most_common()]
    gold = np.array([[n in s for n in names] for s in sets("test")])
    best = 0.0
    for k in range(1, len(order) + 1):
        guess = np.tile([n in order[:k] for n in names], (len(gold), 1))
        best = max(best, multilabel_metrics(gold, guess)["micro_f1"])
    return best


def run_one(args: argparse.Namespace, names: list[str], preset: str, work: Path) -> dict:
    """Train one preset on one MixCLINC; the JSON-ready row."""
    import torch

    from labelsync.data.synthetic_tasks import write_mixclinc
    from labelsync.descriptions import Descriptions
    from labelsync.training import TrainConfig, Trainer
    from labelsync.training.presets import available_presets

    row = {"benchmark": "mixclinc", "labels": len(names), "preset": preset}
    if preset not in available_presets():
        return row | {"status": "preset not available"}
    torch.set_num_threads(args.threads)
    sizes = {s: max(1, round(n * args.scale * len(names))) for s, n in PER_LABEL.items()}
    folder = work / f"mixclinc-{len(names)}"
    if not folder.is_dir():
        write_mixclinc(Path(args.data_dir) / "data_full.json", folder, names, sizes, seed=0)
        Descriptions.reviewed("clinc150").subset(names).to_yaml(folder / "descriptions.yaml")
    config = TrainConfig.resolve(
        preset=preset,
        dataset=str(folder),
        task="multi_label",
        descriptions=str(folder / "descriptions.yaml"),
        encoder=args.encoder,
        epochs=args.epochs,
        learning_rate=args.lr,
        patience=args.epochs,
        progress=False,
    )
    started = time.perf_counter()
    summary = Trainer(config, work / f"run-{len(names)}-{preset}").train()
    wall = time.perf_counter() - started
    metrics = json.loads((work / f"run-{len(names)}-{preset}/seed-0/metrics.json").read_text())
    test = {name: cell["mean"] for name, cell in summary["test"].items()}
    return row | {
        "encoder": args.encoder,
        "epochs": args.epochs,
        "rows": sizes,
        "micro_f1": test["micro_f1"],
        "hamming_loss": test["hamming_loss"],
        "accuracy": test["accuracy"],
        "macro_f1": test["macro_f1"],
        "trivial_micro_f1": trivial_micro_f1(folder, names),
        "wall_s": round(wall, 1),
        "train_s": metrics["train_seconds"],
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "threads": args.threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 150], choices=[10, 150])
    parser.add_argument("--presets", nargs="+", default=["text", "a-mess", "carat", "le-mer"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "clinc150"))
    args = parser.parse_args()

    from labelsync.labels import LabelSet

    every = LabelSet.preset("clinc150").names
    with tempfile.TemporaryDirectory(prefix="labelsync-tasks-") as tmp:
        for count in args.labels:
            names = MIXCLINC_LABELS if count == 10 else every
            for preset in args.presets:
                print(json.dumps(run_one(args, names, preset, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
