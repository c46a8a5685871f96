"""labelsync: LLM-assisted label semantics and multimodal intent recognition.

labels -> descriptions -> label store -> model -> predictions. Importing the package is cheap:
heavy libraries (torch, transformers, faiss) load only when a name that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_EXPORTS = {
    "LabelSet": "labelsync.labels",
    "normalize_label": "labelsync.labels",
    "Descriptions": "labelsync.descriptions",
    "LabelDescriptions": "labelsync.descriptions",
    "describe": "labelsync.describe.describer",
    "DescribeConfig": "labelsync.describe.describer",
    "Describer": "labelsync.describe.describer",
    "DescribePlan": "labelsync.describe.describer",
    "PromptTemplate": "labelsync.describe.prompts",
    "DescriptionCache": "labelsync.describe.cache",
    "Embedder": "labelsync.store.embedder",
    "LabelStore": "labelsync.store.label_store",
    "FitConfig": "labelsync.store.fit",
    "LabelsyncError": "labelsync.errors",
    "AMessConfig": "labelsync.model",
    "AMessModel": "labelsync.model",
    "ModelConfig": "labelsync.model",
    "IntentModel": "labelsync.model",
    "FusionSpec": "labelsync.model",
    "register_fusion": "labelsync.model",
    "register_loss": "labelsync.model",
    "load_dataset": "labelsync.data",
    "IntentDataset": "labelsync.data",
    "Trainer": "labelsync.training",
    "TrainConfig": "labelsync.training",
    "Sweep": "labelsync.training",
    "Predictor": "labelsync.predict",
    "Prediction": "labelsync.prediction",
    "evaluate_open_set": "labelsync.ood.evaluate",
    "register_detector": "labelsync.ood",
    "KnnSettings": "labelsync.inference",
    "available_detectors": "labelsync.ood",
    "extract_features": "labelsync.media",
    "extract_clip": "labelsync.media",
    "ExtractSettings": "labelsync.media",
    "Featurizer": "labelsync.media",
    "Client": "labelsync.client",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .describe.cache import DescriptionCache
    from .describe.describer import DescribeConfig, DescribePlan, Describer, describe
    from .describe.prompts import PromptTemplate
    from .descriptions import Descriptions, LabelDescriptions
    from .errors import LabelsyncError
    from .inference import KnnSettings
    from .labels import LabelSet, normalize_label
    from .media import ExtractSettings, Featurizer, extract_clip, extract_features
    from .model import FusionSpec, register_fusion, register_loss
    from .ood import available_detectors, register_detector
    from .ood.evaluate import evaluate_open_set
    from .predict import Predictor
    from .prediction import Prediction
    from .store.embedder import Embedder
    from .store.fit import FitConfig
    from .store.label_store import LabelStore
    from .training import Sweep, TrainConfig, Trainer


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, ("__version__",))
