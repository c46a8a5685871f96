"""What the review page shows about a set of descriptions: the confusable label pairs and, on
dev data, the accuracy and the misclassified examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...labels import normalize_label

__all__ = ["DevSet", "confusable_pairs", "dev_report"]


def confusable_pairs(store: Any, limit: int = 15) -> list[dict[str, Any]]:
    """Label pairs whose closest two descriptions are most alike (cosine in the store's own
    embedding space, from ``LabelStore.description_matrix``), worst first."""
    import torch

    matrix, mask = store.description_matrix()  # [L, D, dim], [L, D]
    n_labels, width = mask.shape
    if n_labels < 2:
        return []
    flat = matrix.reshape(n_labels * width, -1)
    sims = (flat @ flat.T).reshape(n_labels, width, n_labels, width)
    valid = mask[:, :, None, None] & mask[None, None, :, :]
    sims = sims.masked_fill(~valid, float("-inf"))
    # [L, L, D*D]: for each label pair, every pair of their descriptions
    per_pair = sims.permute(0, 2, 1, 3).reshape(n_labels, n_labels, width * width)
    best, where = per_pair.max(dim=2)
    upper = torch.triu(torch.ones(n_labels, n_labels, dtype=torch.bool), diagonal=1)
    scores = best.masked_fill(~upper, float("-inf")).flatten()
    count = min(limit, n_labels * (n_labels - 1) // 2)
    top = torch.topk(scores, count).indices.tolist()
    entries = store.entries
    pairs = []
    for flat_index in top:
        a, b = divmod(flat_index, n_labels)
        slot_a, slot_b = divmod(int(where[a, b]), width)
        pairs.append(
            {
                "a": entries[a].label,
                "b": entries[b].label,
                "score": round(float(best[a, b]), 4),
                "a_text": _text(entries[a], slot_a),
                "b_text": _text(entries[b], slot_b),
            }
        )
    return pairs


def _text(entry: Any, slot: int) -> str:
    """The description at ``slot`` (a label without descriptions is its name)."""
    return entry.descriptions[slot] if entry.descriptions else entry.label


@dataclass
class DevSet:
    """In-scope dev rows and their vectors (encoded once per session)."""

    texts: list[str]
    labels: list[str]
    vectors: np.ndarray
    out_of_scope: int = 0  # rows left out: out-of-scope labels


def dev_report(store: Any, dev: DevSet, limit: int = 50) -> dict[str, Any]:
    """Accuracy of ``store`` on the dev rows whose label it has, and the misclassified rows
    (most confidently wrong first)."""
    scores = store.score_vectors(dev.vectors)  # [n, L]
    names = store.labels
    position = {normalize_label(name): i for i, name in enumerate(names)}
    gold = np.array([position.get(normalize_label(label), -1) for label in dev.labels])
    known = gold >= 0
    predicted = scores.argmax(axis=1)
    rows = np.flatnonzero(known)
    wrong = rows[predicted[rows] != gold[rows]]
    margins = scores[wrong, predicted[wrong]] - scores[wrong, gold[wrong]]
    order = wrong[np.argsort(-margins, kind="stable")][:limit]
    return {
        "rows": int(known.sum()),
        "correct": int(known.sum() - len(wrong)),
        "accuracy": round(float(1 - len(wrong) / known.sum()), 4) if known.any() else None,
        "unknown_label_rows": int((~known).sum()),
        "out_of_scope_rows": dev.out_of_scope,
        "misclassified": [
            {
                "text": dev.texts[i],
                "gold": dev.labels[i],
                "predicted": names[int(predicted[i])],
                "score": round(float(scores[i, predicted[i]]), 4),
                "gold_score": round(float(scores[i, gold[i]]), 4),
            }
            for i in order.tolist()
        ],
    }
