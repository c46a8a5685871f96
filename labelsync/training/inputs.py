"""What a run trains on: the dataset (``oos_mode`` applied), descriptions, their embeddings,
the model and the DataLoaders. The ``Trainer`` calls these; they hold no loop.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from ..errors import ConfigError, LabelsyncError
from .arguments import TrainConfig
from .tasks import check_dataset

__all__ = [
    "load_raw_data",
    "load_training_data",
    "prepare_data",
    "announce_text_only",
    "known_classes",
    "known_class_split",
    "resolve_descriptions",
    "description_matrix",
    "build_model",
    "make_loader",
    "make_optimizer",
]

log = logging.getLogger(__name__)

_MULTIMODAL_DATASETS = ("mintrec", "mintrec2")  # released with video and audio features


def load_raw_data(config: TrainConfig) -> Any:
    """``config.dataset`` as ``load_dataset`` reads it (features per ``text_only``)."""
    from ..data import load_dataset

    if config.text_only and (config.video_feats or config.audio_feats):
        raise ConfigError("text_only ignores every feature file: drop video_feats/audio_feats")
    return load_dataset(
        config.dataset,
        config.data_dir,
        video_feats=config.video_feats,
        audio_feats=config.audio_feats,
        features=None if config.text_only else "auto",
        allow_pickle=config.allow_pickle,
        labels=config.labels,
        emotions=config.emotions,
        max_lengths={
            "text": config.model.max_text_len,
            "video": config.model.max_video_len,
            "audio": config.model.max_audio_len,
        },
    )


def load_training_data(
    config: TrainConfig, dataset: Any = None, *, open_set: bool = False
) -> tuple[Any, dict[str, int]]:
    """Load ``config.dataset`` (or use ``dataset``, as loaded) and ``prepare_data`` it."""
    return prepare_data(config, load_raw_data(config) if dataset is None else dataset, open_set)


def prepare_data(
    config: TrainConfig, dataset: Any, open_set: bool = False
) -> tuple[Any, dict[str, int]]:
    """Apply ``known_ratio`` and ``oos_mode`` to a loaded dataset (the caller's is unchanged).

    Returns the dataset and the out-of-scope rows dropped per split. ``open_set=True`` (the
    out-of-scope evaluation) keeps the out-of-scope rows of dev/test whatever ``oos_mode`` is.
    """
    from datasets import DatasetDict

    if config.known_ratio < 1.0:
        dataset = known_class_split(dataset, config.known_ratio, config.seeds[0])
    dropped, splits = {}, {}
    for split, rows in dataset.splits.items():
        is_oos = np.asarray(rows["is_oos"], dtype=bool)
        keep = config.oos_mode == "class" or (open_set and split != "train")
        if is_oos.any() and not keep:  # oos_mode "drop": in-scope classes only
            splits[split] = rows.select(np.flatnonzero(~is_oos))
            dropped[split] = int(is_oos.sum())
        else:
            splits[split] = rows
    if dropped:  # a new IntentDataset: the caller's object is left as it was
        dataset = dataclasses.replace(dataset, splits=DatasetDict(splits))
        log.info("oos_mode=drop: removed out-of-scope rows %s (in-scope training)", dropped)
    if config.oos_mode == "class" and not dataset.oos_label:
        raise LabelsyncError(
            f"{dataset.name}: oos_mode=class needs out-of-scope rows, and this dataset has none"
        )
    check_dataset(config.task, dataset)
    return dataset, dropped


def announce_text_only(config: TrainConfig, dataset: Any) -> None:
    """One line when the chosen fusion will not run and the text encoder runs alone: a warning
    when a multimodal dataset (MIntRec, MIntRec2.0) came without video/audio features, a note
    for ``text_only`` or a text dataset (CLINC150, custom data without feature files). A fusion
    with its own heads (CARAT, HyCon) still runs, on the text stream alone."""
    from ..model.fusion import FUSIONS

    if config.model.fusion != "none" and (config.text_only or not dataset.feature_stores):
        missing = dataset.name in _MULTIMODAL_DATASETS and not config.text_only
        head = FUSIONS[config.model.fusion].head
        log.log(
            logging.WARNING if missing else logging.INFO,
            "%s: %s: the %s fusion %s",
            dataset.name,
            "text_only is set" if config.text_only else "no video/audio features",
            config.model.fusion,
            "runs on the text stream alone"
            if head
            else "falls back to text only (the text encoder alone)",
        )


def known_classes(names: list[str], ratio: float, seed: int) -> list[str]:
    """The known classes of the open-intent protocol: ``round(ratio * K)`` drawn with ``seed``."""
    count = max(1, min(len(names), round(ratio * len(names))))
    picked = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
    return [names[i] for i in sorted(picked)]  # label order kept


def known_class_split(dataset: Any, ratio: float, seed: int) -> Any:
    """TEXTOIR open-intent split: unknown classes leave train and become out-of-scope rows.

    Label ids are renumbered over the known classes (``0..K'-1``, out-of-scope ``K'``); rows
    that were out of scope already stay out of scope.
    """
    from datasets import ClassLabel, Dataset, DatasetDict

    from ..labels import LabelSet

    names = dataset.labels.names
    known = known_classes(names, ratio, seed)
    oos_label = dataset.oos_label or "oos"
    new_id = {names.index(name): i for i, name in enumerate(known)}
    splits = {}
    for split, rows in dataset.splits.items():
        columns = rows.to_dict()
        old_ids = np.asarray(columns["label_id"])
        is_oos = np.asarray(columns["is_oos"], dtype=bool) | ~np.isin(old_ids, list(new_id))
        pairs = zip(old_ids, is_oos, strict=True)
        columns["label_id"] = [len(known) if o else new_id[int(i)] for i, o in pairs]
        pairs = zip(columns["label"], is_oos, strict=True)
        columns["label"] = [oos_label if o else name for name, o in pairs]
        columns["is_oos"] = is_oos.tolist()
        features = rows.features.copy()
        features["label_id"] = ClassLabel(names=[*known, oos_label])
        table = Dataset.from_dict(columns, features=features, split=split)
        splits[split] = table.select(np.flatnonzero(~is_oos)) if split == "train" else table
    log.info(
        "known_ratio=%s (seed %d): %d of %d classes known", ratio, seed, len(known), len(names)
    )
    labels = LabelSet(known, source=f"{len(known)} known classes (ratio {ratio}, seed {seed})")
    return dataclasses.replace(
        dataset, splits=DatasetDict(splits), labels=labels, oos_label=oos_label
    )


def resolve_descriptions(config: TrainConfig, dataset: Any) -> Any:
    """The descriptions of the dataset's labels: a file, the reviewed preset, or ``describe()``."""
    from ..descriptions import Descriptions
    from ..labels import PRESETS

    if config.task == "regression" or not config.model.needs_descriptions:
        if config.descriptions or config.reviewed_descriptions:  # one score, or e.g. CARAT
            log.info("%s: this model reads no label descriptions; they go unused", dataset.name)
        return Descriptions()
    if config.descriptions:
        found = Descriptions.from_yaml(config.descriptions)
    elif config.reviewed_descriptions:
        if dataset.name not in PRESETS:
            raise LabelsyncError(
                f"reviewed descriptions ship only for {', '.join(PRESETS)}; {dataset.name!r} "
                "data needs --descriptions FILE (or neither, to generate them)"
            )
        found = Descriptions.reviewed(dataset.name)
    else:
        from ..describe.describer import describe

        if dataset.name in PRESETS:
            log.warning(
                "%s: generating descriptions with the default LLM; "
                "--reviewed-descriptions uses the shipped hand-written set",
                dataset.name,
            )
        log.info("describing %d labels with the default LLM (cached)", len(dataset.labels))
        found = describe(dataset.labels)
    missing = [label for label in dataset.labels if label not in found]
    if missing:
        raise LabelsyncError(
            f"no descriptions for {len(missing)} of {len(dataset.labels)} labels "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
        )
    return found.subset(dataset.labels)


def description_matrix(config: TrainConfig, descriptions: Any, label_names: list[str]) -> Any:
    """``([K, n, D] embeddings, [K, n] mask)`` of the descriptions, rows in label order;
    ``(None, None)`` for regression and for models that read no descriptions."""
    from ..store.label_store import LabelStore

    if config.task == "regression" or not config.model.needs_descriptions:
        return None, None
    store = LabelStore.build(
        descriptions, embedder=config.embedder, template=config.description_template
    )
    return store.description_matrix(label_names)


def build_model(
    config: TrainConfig,
    label_names: list[str],
    feature_dims: dict[str, int],
    matrix: Any,
    mask: Any,
    max_lengths: Any = None,
) -> Any:
    """A fresh ``IntentModel`` with the description matrix set (seed the RNGs first)."""
    from transformers.utils import logging as hf_logging

    from ..model.modeling import IntentModel

    shape = (config.model.desc_dim, config.model.max_descriptions)
    if matrix is not None:
        shape = (int(matrix.shape[-1]), int(matrix.shape[1]))
    model_config = config.model_config(label_names, feature_dims, *shape, max_lengths)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar per seed
    try:
        model = IntentModel(model_config)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model_config.needs_descriptions:
        model.set_descriptions(matrix, mask)
    return model


def make_loader(
    config: TrainConfig, dataset: Any, split: str, tokenizer: Any, *, seed: int | None = None
) -> Any:
    """A DataLoader over ``split``; shuffled by a generator seeded with ``seed`` when given."""
    import torch
    from torch.utils.data import DataLoader

    from ..data.collate import IntentCollator

    stores = {} if config.text_only else dataset.feature_stores
    collate = IntentCollator(
        stores, max_lengths=dataset.max_lengths, pad_to=config.pad_to, tokenizer=tokenizer
    )
    train = seed is not None
    return DataLoader(
        dataset[split],
        batch_size=config.batch_size if train else config.eval_batch_size,
        shuffle=train,
        collate_fn=collate,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(seed) if train else None,
    )


def make_optimizer(config: TrainConfig, model: Any, batches_per_epoch: int) -> tuple[Any, Any]:
    """AdamW (no weight decay on biases, norms and scales) + linear warmup and decay."""
    import math

    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    # steps of the whole run, counted on the unsharded loader (accelerate's convention)
    updates = math.ceil(batches_per_epoch / config.gradient_accumulation_steps) * config.epochs
    warmup = round(config.warmup_ratio * updates)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, updates)
