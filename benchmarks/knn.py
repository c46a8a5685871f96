"""G2SAM kNN inference on CLINC150: in-scope accuracy of softmax vs knn vs interpolate after the
same training, one JSON line per inference mode (and per kNN setting of the sweep).

    python benchmarks/knn.py [--data-dir ../shared/data/clinc150] [--epochs 1] [--threads 2]
    python benchmarks/knn.py --max-classes 10 --max-train-per-class 20 --epochs 1   # tiny

CLINC150 full by default: 150 intents, 15,000 train / 3,000 dev / 4,500 test utterances; the
out-of-scope rows are dropped (in-scope training and evaluation). One run of ``Trainer``
(``--preset``, default ``a-mess``: the classifier reads ``[pool(E_f), T_f]``), MiniLM, reviewed
descriptions. Then, from one pass of the best checkpoint over train (the kNN bank: every
training row), dev and test (``Evaluator.knn_state``):

- ``{"inference": "softmax" | "knn" | "interpolate", "k", "tau", "weight", "accuracy",
  "macro_f1", "dev_accuracy", ...}`` at the defaults (k 10, tau 0.1; interpolate's weight chosen
  on dev);
- ``{"inference": "knn", "sweep": true, ...}`` for every (k, tau) of ``--sweep-k`` x
  ``--sweep-tau``, and one ``"chosen_on": "dev"`` row each for knn and interpolate at the (k,
  tau) with the best dev accuracy (test never chooses anything).

Timing rows say how long training, the bank (the training split's forward pass + the FAISS
index) and a kNN query took. ``--max-*`` cut the data (first classes alphabetically, first rows)
for a quick check; the numbers then mean little. The ``knn_inference`` function yields the rows,
so ``benchmarks/methods.py`` can register it as a bench.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from oos_clinc import write_subset  # noqa: E402 - the same subset cutting as the OOS benchmark

REPO = Path(__file__).resolve().parents[1]
Row = dict


def _scores(probs, labels) -> dict[str, float]:
    from labelsync.training.metrics import classification_metrics

    metrics = classification_metrics(labels, probs.argmax(axis=1))
    return {"accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4)}


def knn_inference(args: argparse.Namespace) -> Iterator[Row]:
    """Train once on CLINC150 (OOS dropped), then compare the inference modes on test."""
    import torch

    from labelsync.inference import INFERENCE_MODES, KnnSettings, KnnState
    from labelsync.inference.modes import choose_weight
    from labelsync.training import Evaluator, TrainConfig, Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        args.max_oos = 0  # write_subset keeps them all; in-scope training drops them
        data_dir, labels = write_subset(args, Path(tmp) / "clinc")
        config = TrainConfig.resolve(
            None,
            preset=args.preset,
            dataset="clinc150",
            data_dir=str(data_dir),
            labels=str(labels) if labels else None,
            reviewed_descriptions=True,
            encoder=args.encoder,
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            eval_batch_size=64,
            seeds=(args.seed,),
            cpu=args.device == "cpu",
            progress=False,
        )
        started = time.perf_counter()
        Trainer(config, Path(tmp) / "run").train()
        train_seconds = time.perf_counter() - started
        evaluator = Evaluator(Path(tmp) / "run")
        defaults = KnnSettings(k=args.k, tau=args.tau)
        started = time.perf_counter()
        state, found = evaluator.knn_state(
            "interpolate", args.seed, defaults, splits=("dev", "test")
        )
        pass_seconds = time.perf_counter() - started
        dev, test = found["dev"], found["test"]
        base = {
            "bench": "knn_inference",
            "dataset": "clinc150",
            "classes": int(test.logits.shape[1]),
            "train_rows": len(state.bank),
            "dev_rows": len(dev),
            "test_rows": len(test),
            "encoder": config.encoder,
            "preset": args.preset,
            "epochs": args.epochs,
            "seed": args.seed,
        }
        yield base | {
            "timing": True,
            "train_seconds": round(train_seconds, 1),
            "bank_and_eval_seconds": round(pass_seconds, 1),
            "bank_dim": state.bank.meta["dim"],
            "threads": torch.get_num_threads(),
        }

        def row(mode: str, settings: KnnSettings, weight: float | None, **extra) -> Row:
            knn_state = KnnState(state.bank, settings, weight)
            probs = {
                name: INFERENCE_MODES[mode].probabilities(
                    out.logits, out.extra["features"], knn_state
                )
                for name, out in (("dev", dev), ("test", test))
            }
            settings_row = {"k": settings.k, "tau": settings.tau} if mode != "softmax" else {}
            return (
                base
                | {"inference": mode}
                | settings_row
                | ({"weight": weight} if mode == "interpolate" else {})
                | _scores(probs["test"], test.label_id)
                | {"dev_accuracy": _scores(probs["dev"], dev.label_id)["accuracy"]}
                | extra
            )

        yield row("softmax", defaults, None)
        started = time.perf_counter()
        state.bank.probabilities(test.extra["features"], args.k, args.tau)
        query_ms = 1000 * (time.perf_counter() - started) / len(test)
        yield row("knn", defaults, None, query_ms=round(query_ms, 4))
        yield row("interpolate", defaults, state.weight)

        best, best_dev = defaults, -1.0
        for k in args.sweep_k:
            for tau in args.sweep_tau:
                settings = KnnSettings(k=k, tau=tau)
                swept = row("knn", settings, None, sweep=True)
                if swept["dev_accuracy"] > best_dev:
                    best, best_dev = settings, swept["dev_accuracy"]
                yield swept
        yield row("knn", best, None, chosen_on="dev")
        dev_knn = state.bank.probabilities(dev.extra["features"], best.k, best.tau)
        weight, _ = choose_weight(dev.logits, dev_knn, dev.label_id)
        yield row("interpolate", best, weight, chosen_on="dev")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/clinc150"))
    parser.add_argument("--preset", default="a-mess")
    parser.add_argument("--encoder", default="minilm", help="default: minilm (all-MiniLM-L6-v2)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--sweep-k", type=int, nargs="*", default=[1, 5, 10, 20, 50])
    parser.add_argument("--sweep-tau", type=float, nargs="*", default=[0.05, 0.1, 0.2, 0.5])
    parser.add_argument("--max-classes", type=int, default=0)
    parser.add_argument("--max-train-per-class", type=int, default=0)
    parser.add_argument("--max-eval-per-class", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu", help="cpu, or auto (accelerate's choice)")
    parser.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = parser.parse_args()
    out = open(args.out, "a", encoding="utf-8") if args.out else None  # noqa: SIM115
    for result in knn_inference(args):
        line = json.dumps(result)
        print(line, flush=True)
        if out is not None:
            out.write(line + "\n")
            out.flush()
    if out is not None:
        out.close()


if __name__ == "__main__":
    main()
