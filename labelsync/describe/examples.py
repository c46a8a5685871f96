"""Training utterances that ground a describe prompt (``--examples-from``)."""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["training_examples"]


def training_examples(
    dataset: str | Path, data_dir: str | Path | None = None, per_label: int = 3, seed: int = 0
) -> dict[str, list[str]]:
    """Up to ``per_label`` random *training* utterances per in-scope label, for grounding."""
    from ..data import load_dataset

    train = load_dataset(dataset, data_dir, features=None).splits["train"]
    grouped: dict[str, list[str]] = {}
    for text, label, is_oos in zip(train["text"], train["label"], train["is_oos"], strict=True):
        if not is_oos:
            grouped.setdefault(label, []).append(text)
    rng = random.Random(seed)
    return {
        label: rng.sample(texts, min(per_label, len(texts))) for label, texts in grouped.items()
    }
