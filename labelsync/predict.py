"""``Predictor``: a trained run (or a saved model) -> label, score and top-k for new inputs.

``Predictor.from_run("runs/mintrec").predict(["I am so sorry"], video=[v], audio=[a])`` where
``v``/``a`` are ``(T, D)`` (or ``(T, 1, D)``) arrays, one per text, or feature files (``.npy``,
``.npz`` or ``.safetensors`` holding one array). Video/audio are padded as in training; a model
trained with video and audio needs both or neither (text only: A-ME is skipped).
``inference="knn"`` (or ``"interpolate"``) predicts from the run's kNN bank instead of the
softmax (``labelsync.inference``; the bank is built from the training split on first use).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LabelsyncError
from .inference.modes import KnnSettings, KnnState, get_inference
from .prediction import Prediction

__all__ = ["Predictor", "load_feature_file"]

log = logging.getLogger(__name__)

FEATURE_FILE_SUFFIXES = (".npy", ".npz", ".safetensors")
FeatureInput = Any  # np.ndarray | str | os.PathLike


def load_feature_file(path: str | os.PathLike) -> np.ndarray:
    """The one array in a ``.npy``/``.npz``/``.safetensors`` file (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise LabelsyncError(f"{path}: feature file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        elif suffix == ".safetensors":
            from safetensors.numpy import load_file

            arrays = load_file(str(path))
        else:
            raise LabelsyncError(
                f"{path}: unsupported feature file (use {', '.join(FEATURE_FILE_SUFFIXES)})"
            )
    except (ValueError, OSError) as exc:
        raise LabelsyncError(f"{path}: cannot read features ({exc})") from None
    if len(arrays) != 1:
        raise LabelsyncError(
            f"{path}: expected one array, found {len(arrays)} ({', '.join(list(arrays)[:3])})"
        )
    return next(iter(arrays.values()))


class Predictor:
    """A loaded ``AMessModel`` + tokenizer that classifies texts (with optional video/audio)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: str | None = None,
        *,
        oos_threshold: Any = None,
        num_known: int | None = None,
        inference: str = "softmax",
        knn_state: KnnState | None = None,
    ):
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.config = model.config
        # out-of-scope detection: an ``OODThreshold`` and the number of in-scope classes K
        self.oos_threshold = oos_threshold
        self.num_known = len(self.labels) if num_known is None else num_known
        # how outputs become probabilities (``labelsync.inference``) and its kNN bank, if any
        self.inference = get_inference(inference)
        if self.inference.name != "softmax":
            from .training.tasks import require_single_label

            require_single_label(self.config.task, f"{self.inference.name} inference")
        if self.inference.needs_bank and knn_state is None:
            raise LabelsyncError(
                f"{self.inference.name} inference needs a kNN bank: use Predictor.from_run"
            )
        self.knn_state = knn_state
        # raw clips -> features, as the run's training features were made (from_run sets it)
        self.clips: Any = None

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | None = None) -> Predictor:
        """Load a ``save_pretrained`` directory (its ``encoder/`` folder holds the tokenizer)."""
        from .training.evaluation import load_checkpoint

        model, tokenizer = load_checkpoint(directory)
        return cls(model, tokenizer, device)

    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike,
        seed: int | None = None,
        device: str | None = None,
        oos_detector: str | None = None,
        inference: str = "softmax",
        knn: KnnSettings | None = None,
    ) -> Predictor:
        """The best checkpoint of a run (of ``seed``; default: the seed with the best dev score).

        ``oos_detector``: flag out-of-scope inputs with that detector's saved dev threshold.
        ``inference``: ``softmax``, ``knn`` or ``interpolate`` (``knn`` settings); the run's kNN
        bank is loaded, or built from its training split and saved on first use.
        """
        from .training.runs import CONFIG_FILE, RunDir

        mode = get_inference(inference)
        run = RunDir(Path(run_dir))
        run.require()
        predictor = cls.from_pretrained(run.model_dir(seed), device)
        run.check_labels(predictor.labels, f"checkpoint {run.model_dir(seed)}")
        if mode.needs_bank:
            from .training.evaluation import Evaluator
            from .training.tasks import require_single_label

            require_single_label(predictor.config.task, f"{mode.name} inference")
            state, _ = Evaluator(run.root).knn_state(mode.name, seed, knn)
            predictor.inference, predictor.knn_state = mode, state
        if (run.root / CONFIG_FILE).is_file():
            from .training.arguments import TrainConfig

            if TrainConfig.from_yaml(run.root / CONFIG_FILE).oos_mode == "class":
                predictor.num_known = len(predictor.labels) - 1
        from .media.clips import ClipInputs

        info = run.info()
        trained = {
            m: [Path(r["path"]).name for r in records]
            for m, records in info.get("features", {}).get("feature_files", {}).items()
        }
        predictor.clips = ClipInputs(
            info.get("extractors", {}), trained, predictor.config.modalities
        )
        if oos_detector:
            from .ood.calibrate import OODThreshold
            from .training.tasks import require_single_label

            require_single_label(predictor.config.task)
            from .ood.detectors import get_detector
            from .ood.evaluate import check_detectors, ood_dir

            name = get_detector(oos_detector).name
            check_detectors([name], predictor.num_known < len(predictor.labels))
            chosen = run.best_seed() if seed is None else seed
            predictor.oos_threshold = OODThreshold.load(ood_dir(run, chosen), name)
        return predictor

    @property
    def labels(self) -> list[str]:
        return list(self.config.label_names)

    def predict(
        self,
        texts: str | Sequence[str],
        video: FeatureInput | Sequence[FeatureInput] | None = None,
        audio: FeatureInput | Sequence[FeatureInput] | None = None,
        *,
        top_k: int = 3,
        batch_size: int = 32,
    ) -> list[Prediction]:
        """Label, probability and top-k per text (multi-label: also every label at or above its
        threshold, ``Prediction.labels``; regression: the score, ``Prediction.value``).

        ``video``/``audio``: one per text, each a ``(T, D)`` array, a feature file
        (``.npy``/``.npz``/``.safetensors``) or a raw clip (``.mp4``, ``.wav``, ...). Clips are
        featurized as the run's training features were (a run from ``from_run`` whose features
        came from ``labelsync features extract``); a video clip also gives the audio when the run
        takes audio and ``audio`` is not given.
        """
        import torch

        from .media.clips import ClipInputs

        texts = [texts] if isinstance(texts, str) else list(texts)
        clips = self.clips or ClipInputs({}, {}, self.config.modalities)
        video, audio = clips.convert(video, audio)
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise LabelsyncError("no text to classify (give one or more non-empty texts)")
        features = {
            name: self._features(name, value, len(texts))
            for name, value in (("video", video), ("audio", audio))
            if value is not None
        }
        expected = set(self.config.modalities)
        if features and set(features) != expected:
            raise LabelsyncError(
                f"this model fuses {'+'.join(sorted(expected)) or 'no features (text only)'}; "
                f"got {'+'.join(sorted(features))}: give all of them or none"
            )
        if expected and not features:
            if self.model.fusion_spec.head:  # CARAT, HyCon: their heads read every modality
                raise LabelsyncError(
                    f"this {self.config.fusion} model was trained on text + "
                    f"{'/'.join(sorted(expected))} and predicts from all of them: give "
                    f"{' and '.join(f'--{m}' for m in sorted(expected))}"
                )
            log.warning("no %s given: predicting from text alone", "/".join(sorted(expected)))
        k = max(1, min(top_k, len(self.labels)))
        results = []
        for start in range(0, len(texts), batch_size):
            batch = self._batch(texts[start : start + batch_size], features, start, batch_size)
            with torch.no_grad():
                out = self.model(batch)
            chunk = texts[start : start + batch_size]
            if self.config.task == "regression":  # one score per text
                values = out.logits[:, 0].float().cpu().tolist()
                for text, value in zip(chunk, values, strict=True):
                    results.append(Prediction(text, self.labels[0], value, [], value=value))
                continue
            multi = self.config.task == "multi_label"  # a sigmoid per label
            if multi:
                probs = out.logits.float().sigmoid().cpu()
            else:
                probs = torch.from_numpy(self._probabilities(out))
            scores, ids = probs.topk(k, dim=-1)
            decisions = self._oos_scores(out) if self.oos_threshold is not None else None
            for row, (text, row_scores, row_ids) in enumerate(
                zip(chunk, scores.tolist(), ids.tolist(), strict=True)
            ):
                ranked = [
                    (self.labels[i], float(s)) for i, s in zip(row_ids, row_scores, strict=True)
                ]
                extra: dict[str, Any] = {"labels": self._above(probs[row])} if multi else {}
                if decisions is not None:
                    value = float(decisions[row])
                    threshold = float(self.oos_threshold.threshold)
                    extra = {"in_scope": value >= threshold, "oos_score": value}
                    extra["threshold"] = threshold
                results.append(Prediction(text, ranked[0][0], ranked[0][1], ranked, **extra))
        return results

    def _probabilities(self, out: Any) -> np.ndarray:
        """Class probabilities of one batch by the inference mode (softmax, knn, interpolate)."""
        logits = out.logits.float().cpu().numpy()
        features = out.features.float().cpu().numpy() if self.inference.needs_bank else None
        return self.inference.probabilities(logits, features, self.knn_state)

    def _above(self, probabilities: Any) -> list[str]:
        """Multi-label: the labels whose probability reaches their threshold, best first."""
        cuts = self.config.thresholds or [0.5] * len(self.labels)
        order = probabilities.argsort(descending=True).tolist()
        return [self.labels[i] for i in order if float(probabilities[i]) >= cuts[i]]

    def _oos_scores(self, out: Any) -> np.ndarray:
        """The detector's scores (higher = more in scope) of one batch of model outputs."""
        from .ood.detectors import get_detector

        outputs = {"logits": out.logits.float().cpu().numpy()}
        if out.features is not None:
            outputs["features"] = out.features.float().cpu().numpy()
        if out.semantic_token is not None and self.model.has_descriptions:
            scores = self.model.description_scores(out.semantic_token.float())
            outputs["description_scores"] = scores.cpu().numpy()
        detector = get_detector(self.oos_threshold.detector)
        return detector.score(outputs, self.oos_threshold.state, self.num_known)

    def _features(self, name: str, value: Any, count: int) -> list[np.ndarray]:
        """One ``(T, D)`` float32 array per text, checked against the model's width."""
        dim = getattr(self.config, f"{name}_dim")
        if dim is None:
            raise LabelsyncError(f"this model was trained without {name}; leave --{name} out")
        if isinstance(value, (str, os.PathLike, np.ndarray)) or hasattr(value, "shape"):
            value = [value]
        arrays = []
        for item in value:
            array = (
                load_feature_file(item)
                if isinstance(item, (str, os.PathLike))
                else np.asarray(item)
            )
            if array.ndim == 3 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 2 or array.shape[0] < 1:
                raise LabelsyncError(f"{name} features must be (frames, dim), got {array.shape}")
            if array.shape[1] != dim:
                raise LabelsyncError(
                    f"{name} features are {array.shape[1]}-d but the checkpoint "
                    f"was trained on {dim}-d {name} features"
                )
            arrays.append(array.astype(np.float32, copy=False))
        if len(arrays) != count:
            raise LabelsyncError(f"{len(arrays)} {name} inputs for {count} texts (one per text)")
        return arrays

    def _batch(self, texts: list[str], features: dict, start: int, size: int) -> dict[str, Any]:
        import torch

        from .data.collate import pad_features

        batch: dict[str, Any] = {
            "text_inputs": self.tokenizer(
                texts,
                padding="longest",
                truncation=True,
                max_length=self.config.max_text_len,
                return_tensors="pt",
            )
        }
        for name, arrays in features.items():
            max_len = getattr(self.config, f"max_{name}_len")
            values, mask, _ = pad_features(arrays[start : start + size], max_len, pad_to="longest")
            batch[name] = torch.from_numpy(values)
            batch[f"{name}_mask"] = torch.from_numpy(mask)
        batch["text_inputs"] = {k: v.to(self.device) for k, v in batch["text_inputs"].items()}
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in batch.items()}
