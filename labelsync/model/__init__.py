"""The intent model: A-MESS (anchor-based fusion + semantic synchronisation) and named additions.

configuration.py (ModelConfig), fusion.py (the fusion registry), ame.py (A-ME anchor fusion),
mag.py (MAG-BERT gate), mult.py (MulT), text_guided.py (MVCN text-guided units), concat.py
(late fusion), lemer.py (LE-MER label-frame attention and label-guided cross-attention, its
loss terms), blocks.py (what fusions share), label_attention.py (LE-MER label-token
attention), losses.py (triplet description-contrastive loss, the loss-term registry),
congruity.py (MVCN congruity constraint), contrastive.py (G2SAM's label-aware contrastive
loss), carat*.py (CARAT, seed 000) and hycon*.py (HyCon, seed 002):
fusions with their own heads, modeling.py (IntentModel: the whole forward pass,
save_pretrained/from_pretrained).
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
    "FusionOutput": "labelsync.model.blocks",
    "FusionContext": "labelsync.model.fusion",
    "register_fusion": "labelsync.model.fusion",
    "AdaptationGate": "labelsync.model.mag",
    "MultimodalTransformer": "labelsync.model.mult",
    "TextGuidedFusion": "labelsync.model.text_guided",
    "ConcatFusion": "labelsync.model.concat",
    "congruity_loss": "labelsync.model.congruity",
    "LOSS_TERMS": "labelsync.model.losses",
    "register_loss": "labelsync.model.losses",
    "CaratFusion": "labelsync.model.carat",
    "HyconFusion": "labelsync.model.hycon",
    "AnchorEmbedding": "labelsync.model.ame",
    "AnchorSelection": "labelsync.model.ame",
    "select_anchors": "labelsync.model.ame",
    "LabelGuidedAttention": "labelsync.model.label_attention",
    "LabelGuidedFusion": "labelsync.model.lemer",
    "label_contrastive_loss": "labelsync.model.contrastive",
    "TripletDescriptionLoss": "labelsync.model.losses",
    "pack_description_embeddings": "labelsync.model.losses",
    "triplet_description_loss": "labelsync.model.losses",
    "IntentModel": "labelsync.model.modeling",
    "ModelOutput": "labelsync.model.modeling",
    "AMessModel": "labelsync.model.modeling",
    "AMessOutput": "labelsync.model.modeling",
}

__all__ = [
    "AdaptationGate",
    "AMessConfig",
    "AMessModel",
    "AMessOutput",
    "AnchorEmbedding",
    "AnchorSelection",
    "CaratFusion",
    "ConcatFusion",
    "FUSIONS",
    "FusionContext",
    "FusionOutput",
    "FusionSpec",
    "HyconFusion",
    "IntentModel",
    "LOSS_TERMS",
    "LabelGuidedAttention",
    "LabelGuidedFusion",
    "ModelConfig",
    "ModelOutput",
    "MultimodalTransformer",
    "TextGuidedFusion",
    "TripletDescriptionLoss",
    "congruity_loss",
    "label_contrastive_loss",
    "pack_description_embeddings",
    "register_fusion",
    "register_loss",
    "select_anchors",
    "triplet_description_loss",
]

if TYPE_CHECKING:  # pragma: no cover
    from .ame import AnchorEmbedding, AnchorSelection, select_anchors
    from .blocks import FusionOutput
    from .carat import CaratFusion
    from .concat import ConcatFusion
    from .configuration import AMessConfig, ModelConfig
    from .congruity import congruity_loss
    from .contrastive import label_contrastive_loss
    from .fusion import FUSIONS, FusionContext, FusionSpec, register_fusion
    from .hycon import HyconFusion
    from .label_attention import LabelGuidedAttention
    from .lemer import LabelGuidedFusion
    from .losses import (
        LOSS_TERMS,
        TripletDescriptionLoss,
        pack_description_embeddings,
        register_loss,
        triplet_description_loss,
    )
    from .mag import AdaptationGate
    from .modeling import AMessModel, AMessOutput, IntentModel, ModelOutput
    from .mult import MultimodalTransformer
    from .text_guided import TextGuidedFusion


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
