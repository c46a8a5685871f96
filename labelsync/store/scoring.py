"""How a label's score is made from the similarities of a text to that label's vectors, and
how scores become predictions.

Vector ids encode their owner: ``label_id << 20 | kind << 18 | slot`` (kind 0 = the label's
name, 1 = a description, 2 = an example utterance). Label ids only grow, so sorted vector ids
are grouped by label in store order, and every step below is array arithmetic over those groups.
"""

from __future__ import annotations

import numpy as np

from ..errors import LabelsyncError
from ..prediction import Prediction

# Scoring defaults, chosen on CLINC150 val with all-MiniLM-L6-v2 (benchmarks/zero_shot_clinc.py
# --sweep; table in the README). Each description is embedded as "name: description"; a label
# scores w * cos(name) + (1 - w) * max cos(descriptions). The weight follows provenance
# ("auto"): w = 0.3 for reviewed or user-written descriptions (best or near-best with good
# ones) and w = 0.7 for unreviewed LLM output (with a tiny offline model the only mix that never
# fell below names alone). With examples: 0.5 * that + 0.5 * (max cos over the examples).
DEFAULT_TEMPLATE = "{name}: {description}"
DEFAULT_NAME_WEIGHT = "auto"
AUTO_NAME_WEIGHTS = {"reviewed": 0.3, "user": 0.3, "llm": 0.7}
DEFAULT_AGGREGATE = "max"
DEFAULT_EXAMPLE_WEIGHT = 0.5

ID_SHIFT, KIND_SHIFT = 20, 18
MAX_SLOTS = 1 << KIND_SHIFT
NAME, DESCRIPTION, EXAMPLE = 0, 1, 2
KINDS = ("name", "description", "example")
AGGREGATES = ("max", "mean")


def vector_id(label_id: int, kind: int, slot: int) -> int:
    """The FAISS id of one vector of a label."""
    return (label_id << ID_SHIFT) | (kind << KIND_SHIFT) | slot


def decode(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(label_id, kind, slot)`` arrays of vector ids."""
    ids = np.asarray(ids, dtype=np.int64)
    return ids >> ID_SHIFT, (ids >> KIND_SHIFT) & 3, ids & (MAX_SLOTS - 1)


def check(name_weight: float | str, aggregate: str, example_weight: float) -> None:
    """One-line errors for scoring settings out of range (``name_weight`` may be "auto")."""
    if aggregate not in AGGREGATES:
        raise LabelsyncError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    if isinstance(name_weight, str):
        if name_weight != "auto":
            raise LabelsyncError(f"name_weight must be 'auto' or a number, got {name_weight!r}")
        name_weight = 0.0
    for what, value in (("name_weight", name_weight), ("example_weight", example_weight)):
        if not 0.0 <= value <= 1.0:
            raise LabelsyncError(f"{what} must be between 0 and 1, got {value}")


def layout(vector_ids: np.ndarray, label_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted vector ids and, per label (ascending ``label_ids``), its columns of each kind."""
    ids = np.sort(np.asarray(vector_ids, dtype=np.int64))
    owner_id, kind, _ = decode(ids)
    owner = np.searchsorted(label_ids, owner_id)
    result = {"ids": ids, "name_col": np.flatnonzero(kind == NAME)}
    for kind_id, key in ((DESCRIPTION, "desc"), (EXAMPLE, "ex")):
        cols = np.flatnonzero(kind == kind_id)
        result[f"{key}_cols"] = cols
        result[f"{key}_counts"] = np.bincount(owner[cols], minlength=len(label_ids))
    return result


def dense(scores: np.ndarray, ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """``[n, n_vectors]`` similarities from search results; vectors a search did not return
    (HNSW, or k < n_vectors) get that query's lowest returned score, an upper bound."""
    valid = ids >= 0
    floor = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    out = np.repeat(floor, len(sorted_ids), axis=1)
    rows = np.broadcast_to(np.arange(len(ids))[:, None], ids.shape)
    out[rows[valid], np.searchsorted(sorted_ids, ids[valid])] = scores[valid]
    return out


def combine(
    sims: np.ndarray,
    layout: dict,
    aggregate: str,
    name_weight: float | np.ndarray,
    example_weight: float,
) -> np.ndarray:
    """``[n, n_labels]``: w * name + (1 - w) * agg(descriptions), then mixed with agg(examples)
    by ``example_weight``; a label without descriptions (or examples) skips that term. ``w`` is
    one number or one per label."""
    score = sims[:, layout["name_col"]]
    parts = {}
    for key in ("desc", "ex"):
        counts, cols = layout[f"{key}_counts"], layout[f"{key}_cols"]
        agg, has = score.copy(), counts > 0
        if has.any():
            starts = np.r_[0, np.cumsum(counts[has])[:-1]]
            block = sims[:, cols]
            if aggregate == "max":
                agg[:, has] = np.maximum.reduceat(block, starts, axis=1)
            else:
                agg[:, has] = np.add.reduceat(block, starts, axis=1) / counts[has]
        parts[key] = (agg, has)
    descriptions, has_desc = parts["desc"]
    score = np.where(has_desc, name_weight * score + (1.0 - name_weight) * descriptions, score)
    examples, has_ex = parts["ex"]
    return np.where(has_ex, (1.0 - example_weight) * score + example_weight * examples, score)


def predictions(
    texts: list[str],
    labels: list[str],
    ranking: np.ndarray,
    nearest: np.ndarray,
    threshold: float | None,
    top_k: int,
) -> list[Prediction]:
    """One ``Prediction`` per text: labels ranked by ``ranking`` (``[n, n_labels]``), in or out
    of scope by ``nearest`` (the best nearest-label score) against ``threshold``."""
    k = max(1, min(top_k, ranking.shape[1]))
    order = np.argsort(-ranking, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(ranking, order, axis=1)
    result = []
    rows = zip(texts, order.tolist(), best.tolist(), nearest.tolist(), strict=True)
    for text, top, scores, near in rows:
        ranked = [(labels[j], float(s)) for j, s in zip(top, scores, strict=True)]
        decision = {}
        if threshold is not None:
            decision = {"in_scope": near >= threshold, "oos_score": near, "threshold": threshold}
        result.append(Prediction(text, ranked[0][0], ranked[0][1], ranked, **decision))
    return result
