"""The intent model: A-MESS (anchor-based fusion + semantic synchronisation) and named additions.

configuration.py (ModelConfig), fusion.py (the fusion registry), ame.py (A-ME anchor fusion),
carat*.py (CARAT, seed 000) and hycon*.py (HyCon, seed 002): fusions with their own heads,
label_attention.py (LE-MER label-guided attention), losses.py (triplet description-contrastive
loss), modeling.py (IntentModel: the whole forward pass, save_pretrained/from_pretrained).
``AMessConfig``/``AMessModel`` are the earlier names of ``ModelConfig``/``IntentModel``. Names
load lazily, so reading a config does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ModelConfig": "labelsync.model.configuration",
    "AMessConfig": "labelsync.model.configuration",
    "FUSIONS": "labelsync.model.fusion",
    "FusionSpec": "labelsync.model.fusion",
    "register_fusion": "labelsync.model.fusion",
    "FusionOutput": "labelsync.model.fusion_output",
    "CaratFusion": "labelsync.model.carat",
    "HyconFusion": "labelsync.model.hycon",
    "AnchorEmbedding": "labelsync.model.ame",
    "AnchorSelection": "labelsync.model.ame",
    "select_anchors": "labelsync.model.ame",
    "LabelGuidedAttention": "labelsync.model.label_attention",
    "TripletDescriptionLoss": "labelsync.model.losses",
    "pack_description_embeddings": "labelsync.model.losses",
    "triplet_description_loss": "labelsync.model.losses",
    "IntentModel": "labelsync.model.modeling",
    "ModelOutput": "labelsync.model.modeling",
    "AMessModel": "labelsync.model.modeling",
    "AMessOutput": "labelsync.model.modeling",
}

__all__ = [
    "AMessConfig",
    "AMessModel",
    "AMessOutput",
    "AnchorEmbedding",
    "AnchorSelection",
    "CaratFusion",
    "FUSIONS",
    "FusionOutput",
    "FusionSpec",
    "HyconFusion",
    "IntentModel",
    "LabelGuidedAttention",
    "ModelConfig",
    "ModelOutput",
    "TripletDescriptionLoss",
    "pack_description_embeddings",
    "register_fusion",
    "select_anchors",
    "triplet_description_loss",
]

if TYPE_CHECKING:  # pragma: no cover
    from .ame import AnchorEmbedding, AnchorSelection, select_anchors
    from .carat import CaratFusion
    from .configuration import AMessConfig, ModelConfig
    from .fusion import FUSIONS, FusionSpec, register_fusion
    from .fusion_output import FusionOutput
    from .hycon import HyconFusion
    from .label_attention import LabelGuidedAttention
    from .losses import (
        TripletDescriptionLoss,
        pack_description_embeddings,
        triplet_description_loss,
    )
    from .modeling import AMessModel, AMessOutput, IntentModel, ModelOutput


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
