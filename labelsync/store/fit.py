"""Fit a store's SentenceBERT body on a few labelled examples, SetFit-style.

Pairs of texts are generated from the examples (same label = positive, other label = negative,
one of each per example and round, as SetFit does) and the body is trained on them with
sentence-transformers' own trainer and losses. With ``anchors`` the label's name and
descriptions, as the store embeds them, join the positives: every label then has a well-placed
centre even with one or two examples. The store re-embeds everything with the fitted body
afterwards (``LabelStore.fit``); this module only trains.

Defaults, chosen on CLINC150 val (5 examples per label, MiniLM, reviewed descriptions; README):
``MultipleNegativesRankingLoss`` on the positive pairs (the other pairs of a batch are the
negatives) lifted accuracy from 0.860 to 0.908, where SetFit's ``CosineSimilarityLoss`` on
positive and negative pairs reached 0.872 for the same number of pairs; a logistic head added
0.4 points over nearest-label scoring; 5,000 pairs instead of 2,500 added 0.3 for twice the time.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labelled_texts import LabelledText
from ..descriptions import Descriptions, LabelDescriptions
from ..errors import LabelsyncError
from ..labels import normalize_label
from .calibrate import ood_metrics
from .embedder import Embedder
from .examples import labelled_rows, sample_shots
from .head import LogisticHead
from .scoring import MAX_SLOTS
from .vectors import LabelVectors

__all__ = ["FitConfig", "dev_scores", "fit_store", "make_pairs", "train_body"]

log = logging.getLogger(__name__)

HEADS = ("nearest", "logistic")
# sentence-transformers losses on the pairs: in-batch ranking of positives (default), SetFit's
# cosine regression on 1/0, or the contrastive loss on a batch's hardest positives and negatives
LOSSES = {
    "cosine": "CosineSimilarityLoss",
    "contrastive": "OnlineContrastiveLoss",
    "ranking": "MultipleNegativesRankingLoss",
}


@dataclass(frozen=True)
class FitConfig:
    """How a store's body is fitted (defaults: CPU-friendly, chosen on CLINC150 val).

    Attributes:
        anchors: the label's name and descriptions join the positives of its examples.
        head: ``logistic`` (a logistic regression on the fitted embeddings of the examples and
            anchors ranks the labels) or ``nearest`` (the store's nearest-label scoring).
        loss: ``ranking`` (``MultipleNegativesRankingLoss`` on positive pairs), ``cosine``
            (SetFit's ``CosineSimilarityLoss``) or ``contrastive`` (``OnlineContrastiveLoss``).
        pairs_per_example: rounds of pair generation; each gives every example one positive
            pair (and, but for ``ranking``, one negative pair): SetFit's ``num_iterations``.
        max_pairs: cap on the number of pairs, whatever the number of examples.
        epochs: passes over the generated pairs.
        batch_size: pairs per optimisation step.
        learning_rate: AdamW learning rate of the body.
        warmup: share of the steps with a linear learning-rate warm-up.
        seed: seeds the pairs, the data order and the head.
    """

    anchors: bool = True
    head: str = "logistic"
    loss: str = "ranking"
    pairs_per_example: int = 20
    max_pairs: int = 2_500
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise LabelsyncError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.loss not in LOSSES:
            raise LabelsyncError(f"loss must be one of {tuple(LOSSES)}, got {self.loss!r}")
        for name in ("pairs_per_example", "max_pairs", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise LabelsyncError(f"fit: {name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.learning_rate < 1.0 or not 0.0 <= self.warmup < 1.0:
            raise LabelsyncError("fit: learning_rate must be in (0, 1) and warmup in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """The settings as saved in a fitted store's ``meta.json``."""
        return asdict(self)


def make_pairs(
    examples: Mapping[str, Sequence[str]],
    anchors: Mapping[str, Sequence[str]],
    config: FitConfig,
) -> tuple[list[str], list[str], list[float]]:
    """``(first, second, score)`` training pairs: score 1.0 for the same label, 0.0 otherwise.

    Each round gives every example one positive partner (another example of its label, or one
    of the label's ``anchors``) and, unless the loss is ``ranking``, one negative partner (an
    example or anchor of another label). An example without any positive partner is paired with
    itself, as SetFit does. Rounds stop at ``config.max_pairs``; the order is shuffled with
    ``config.seed``.
    """
    labels = [label for label, texts in examples.items() if texts]
    if len(labels) < 2:
        raise LabelsyncError("fit needs examples of at least 2 labels (got fewer)")
    pool: dict[str, list[str]] = {label: list(examples[label]) for label in labels}
    for label, texts in anchors.items() if config.anchors else ():
        pool.setdefault(label, []).extend(t for t in texts if t not in pool[label])
    texts = [text for group in pool.values() for text in group]
    owner = np.repeat(np.arange(len(pool)), [len(group) for group in pool.values()])
    position = {label: number for number, label in enumerate(pool)}
    rows = [(text, label) for label in labels for text in examples[label]]
    rng = np.random.default_rng(config.seed)
    first: list[str] = []
    second: list[str] = []
    score: list[float] = []
    ranking = config.loss == "ranking"  # positives only: the batch gives the negatives
    total = min(config.max_pairs, (1 if ranking else 2) * config.pairs_per_example * len(rows))
    while len(first) < total:
        for row in rng.permutation(len(rows)):
            if len(first) >= total:
                break
            text, label = rows[row]
            partners = [t for t in pool[label] if t != text] or [text]
            first.append(text)
            second.append(partners[rng.integers(len(partners))])
            score.append(1.0)
            if not ranking:
                negative = rng.integers(len(texts))
                while owner[negative] == position[label]:  # at least 2 labels: this ends
                    negative = rng.integers(len(texts))
                first.append(text)
                second.append(texts[negative])
                score.append(0.0)
    order = rng.permutation(len(first))
    return [first[i] for i in order], [second[i] for i in order], [score[i] for i in order]


def train_body(
    model: Any,
    pairs: tuple[list[str], list[str], list[float]],
    config: FitConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> None:
    """Train ``model`` (a SentenceTransformer, changed in place) on ``pairs`` with the
    config's loss through ``SentenceTransformerTrainer``; ``progress(done, total)`` is called
    after every step. Nothing is written to disk."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses
    from transformers import PrinterCallback, TrainerCallback

    first, second, score = pairs
    if config.loss == "ranking":
        dataset = Dataset.from_dict({"anchor": first, "positive": second})
    else:
        dataset = Dataset.from_dict({"sentence1": first, "sentence2": second, "label": score})

    class _Trainer(SentenceTransformerTrainer):
        def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
            """No model card: the fitted body is saved as weights only (the documented hook)."""

    class _Progress(TrainerCallback):
        def on_step_end(self, _args, state, _control, **_kwargs):
            if progress is not None:
                progress(state.global_step, state.max_steps)

    with tempfile.TemporaryDirectory(prefix="labelsync-fit-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup,
            seed=config.seed,
            data_seed=config.seed,
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=str(model.device) == "cpu",
            dataloader_num_workers=0,
        )
        trainer = _Trainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=getattr(losses, LOSSES[config.loss])(model),
            callbacks=[_Progress(), *callbacks],
        )
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics on stdout
        trainer.train()
    model.eval()


def fit_store(
    store: Any,
    examples: Mapping[str, Iterable[str]] | str | Path | None,
    config: FitConfig,
    *,
    shots: int | None = None,
    dev: Sequence[LabelledText | tuple[str, str]] | str | Path | None = None,
    calibrate: str | Path | None = None,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> Any:
    """A new store like ``store`` (a LabelStore, left unchanged) whose body is fitted on its
    examples plus ``examples``, with every text re-embedded; see ``LabelStore.fit``."""
    started = time.perf_counter()
    if isinstance(examples, (str, Path)):
        rows, where = labelled_rows(examples), str(examples)
        examples = sample_shots(
            rows, store.labels, shots or MAX_SLOTS - 1, config.seed, where=where
        )
    entries = [_copy(entry) for entry in store.entries]
    for position, fresh in store.vectors.new_examples(dict(examples or {})):
        entries[position].examples += fresh
    shots_of = {entry.label: list(entry.examples) for entry in entries if entry.examples}
    anchors = {
        entry.label: LabelVectors.texts_of(entry, store.template)[: 1 + len(entry.descriptions)]
        for entry in entries
    }
    dev_rows = labelled_rows(dev) if dev else []
    before = dev_scores(store, dev_rows) if dev_rows else None
    pairs = make_pairs(shots_of, anchors, config)
    base = Embedder(store.embedder_name, device=store.device)
    model = base.copy_model()
    with _bar(progress, f"fitting {store.embedder_name} on {len(pairs[0])} pairs") as advance:
        train_body(model, pairs, config, progress=advance, callbacks=callbacks)
    fitted = Embedder(store.embedder_name, store.device, model=model)
    vectors = LabelVectors(store.index_type, store.hnsw)
    new = vectors.prepare(Descriptions(entries), replace=False)
    vectors.add(new, fitted.encode([t for e in new for t in vectors.texts_of(e, store.template)]))
    head = None
    if config.head == "logistic":  # on the examples and the anchors: every label has some
        texts = [(t, label) for label, group in shots_of.items() for t in group]
        texts += [(t, label) for label, group in anchors.items() for t in group]
        head = LogisticHead.fit(
            fitted.encode([t for t, _ in texts]),
            [lab for _, lab in texts],
            store.labels,
            config.seed,
        )
    info = {
        "base": store.embedder_name,
        "config": config.to_dict(),
        "examples": sum(len(group) for group in shots_of.values()),
        "labels_with_examples": len(shots_of),
        "pairs": len(pairs[0]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    trial = type(store)(
        fitted,
        index=store.index_type,
        template=store.template,
        name_weight=store.name_weight,
        aggregate=store.aggregate,
        example_weight=store.example_weight,
        hnsw=store.hnsw,
        device=store.device,
    )
    trial.restore(vectors, None, fit_info=info, head=head, embedder=fitted)
    if calibrate is not None:
        trial.calibrate_from(calibrate)
    if dev_rows:
        info["dev"] = {
            "rows": len(dev_rows),
            "before": before,
            "after": dev_scores(trial, dev_rows),
        }
    log.info(
        "fitted %s on %d examples (%d pairs) in %.1f s",
        store.embedder_name,
        info["examples"],
        info["pairs"],
        info["seconds"],
    )
    return trial


def dev_scores(store: Any, rows: Sequence[LabelledText | tuple[str, str]]) -> dict[str, Any]:
    """Accuracy and macro F1 on the rows with a label of ``store``; with out-of-scope rows,
    AUROC of the nearest-label score, and the shares kept / flagged at the store's threshold."""
    from sklearn.metrics import f1_score

    known = {normalize_label(name): name for name in store.labels}
    rows = labelled_rows(rows)
    inside = [
        (row.text, known[normalize_label(row.label)])
        for row in rows
        if not row.is_oos and normalize_label(row.label) in known
    ]
    outside = [row.text for row in rows if row.is_oos]
    if not inside:
        raise LabelsyncError("dev rows: none has a label of this store")
    queries = store.embedder.encode([t for t, _ in inside] + outside)
    matrix = store.score_vectors(queries)
    ranking = matrix if store.head is None else store.head.probabilities(queries)
    predicted = [store.labels[i] for i in ranking[: len(inside)].argmax(axis=1)]
    gold = [label for _, label in inside]
    result: dict[str, Any] = {
        "in_scope": len(inside),
        "accuracy": round(
            float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)])), 4
        ),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4),
    }
    nearest, threshold = matrix.max(axis=1), store.threshold
    if threshold is not None:
        result["kept"] = round(float(np.mean(nearest[: len(inside)] >= threshold)), 4)
    if outside:
        result["out_of_scope"] = len(outside)
        result["auroc"] = round(
            ood_metrics(nearest[: len(inside)], nearest[len(inside) :])["auroc"], 4
        )
        if threshold is not None:
            result["caught"] = round(float(np.mean(nearest[len(inside) :] < threshold)), 4)
    return result


@contextmanager
def _bar(show: bool, description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (interactive terminals only) driven by ``(done, total)``."""
    from .._progress import progress_bars

    with progress_bars(show) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _copy(entry: LabelDescriptions) -> LabelDescriptions:
    return dataclasses.replace(
        entry, descriptions=list(entry.descriptions), examples=list(entry.examples)
    )
