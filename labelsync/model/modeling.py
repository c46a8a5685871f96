"""``IntentModel``: the A-MESS forward pass (seed 003, Section III), and the named additions.

Top to bottom:

1. ``E_text``: the pretrained encoder's embedding layer (word + position embeddings, eq. 1).
2. Fusion (``fusion.py`` registry; default A-ME, ``ame.py``): ``E_m = A-ME(E_text, video,
   audio)`` (eqs. 4-13); other fusions (MAG, MulT, text-guided, concat) act inside the encoder
   or on its output, and may leave tensors for loss terms in ``ModelOutput.aux``.
3. Multimodal encoder: the encoder's own layers over ``E_m`` with the text attention mask
   (eq. 14) -> ``E_f``. Steps 1-3 run as one ordinary call of the Hugging Face encoder in which a
   forward hook swaps ``E_text`` for ``E_m`` (a fusion of stage ``"layer"`` hooks a layer
   instead, one of stage ``"output"`` runs on ``E_f``); so the encoder builds its attention mask
   as it always does, for any BERT-like model. Without video/audio in the batch, or with
   ``fusion="none"``, the encoder runs unchanged. A fusion may hand tensors to its loss terms
   (``FusionOutput.aux`` -> ``ModelOutput.aux``); one with ``uses_context`` also reads the
   description embeddings and the label-token head's ``G_t`` (LE-MER).
4. Semantic synchronisation: ``T_f = MLP(LayerNorm(MeanPool(E_f)))`` in the description space,
   trained by the triplet description-contrastive loss (eq. 15, ``losses.py``).
5. Optional, not in A-MESS: label-guided attention (seed 001, LE-MER, ``label_attention.py``)
   over the text tokens: ``E_f``, or the encoder output before a fusion that reads its ``G_t``
   (``uses_context``: ``fusion="le-mer"``).
6. Classifier (eq. 16): ``[pool(E_f), T_f (, label summary)] -> LayerNorm -> Dropout -> Linear``:
   class logits, one logit per label (``task: multi_label``, sigmoid) or one score
   (``regression``); ``tasks.py`` holds the task losses. A fusion with its own heads
   (``FusionSpec.head``: CARAT, HyCon) predicts instead, and the model builds no classifier.
   Loss (eq. 17) = lambda_ce * CE (BCE / MAE) + lambda_ss * triplet (+ lambda_lga * label CE,
   LE-MER eq. 3) + the registered terms of ``config.losses`` (``losses.LOSS_TERMS``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._io import atomic_directory
from ..offline import resolve_model_path
from .blocks import FusionOutput
from .configuration import CONFIG_NAME, ModelConfig
from .description_bank import DescriptionBank
from .fusion import FusionContext, build_fusion, fusion_target
from .heads import SemanticSyncHead, masked_mean
from .label_attention import LabelAttentionOutput, LabelGuidedAttention
from .losses import LOSS_TERMS, LossContext, TripletDescriptionLoss
from .tasks import IGNORE_INDEX, description_targets, label_attention_loss, loss_context, main_loss

__all__ = [
    "IntentModel",
    "ModelOutput",
    "AMessModel",
    "AMessOutput",
    "WEIGHTS_NAME",
    "ENCODER_DIR",
    "masked_mean",
    "IGNORE_INDEX",
]

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
ENCODER_DIR = "encoder"  # the encoder's config (and optionally tokenizer) inside a saved model
_SAVED_ENTRIES = {WEIGHTS_NAME, CONFIG_NAME, ENCODER_DIR}


@dataclass
class ModelOutput:
    """What ``IntentModel.forward`` returns; ``loss`` only when ``label_id`` is in the batch."""

    logits: Tensor  # [B, num_labels]: class logits; per-label logits (multi_label); [B, 1] score
    loss: Tensor | None = None
    loss_parts: dict[str, Tensor] = field(default_factory=dict)  # detached: ce, triplet, label_ce
    # eval mode: detached weighted per-sample terms [B, parts] (ce, lambda * triplet, lambda *
    # label ce), NaN where a sample takes no part; split losses average each column over the
    # samples that take part, so a split's loss does not depend on how it was batched
    sample_terms: Tensor | None = None
    semantic_token: Tensor | None = None  # T_f [B, desc_dim] (use_ss)
    pooled: Tensor | None = None  # pool(E_f) [B, d]
    features: Tensor | None = None  # classifier input [B, d (+ desc_dim) (+ d)]
    label_logits: Tensor | None = None  # label-guided attention logits [B, num_labels]
    hidden_states: Tensor | None = None  # E_f [B, T, d]
    # what fusions and heads hand to registered loss terms (``losses.LOSS_TERMS``), by name
    aux: dict[str, Any] = field(default_factory=dict)


class IntentModel(DescriptionBank, nn.Module):
    """A-MESS intent classifier over text (+ video, audio) with label-description supervision."""

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None):
        super().__init__()
        if not config.bound:
            raise ValueError("the model config names no labels (label_names or num_labels)")
        self.config = config
        if encoder is None:
            from transformers import AutoModel

            encoder = AutoModel.from_pretrained(resolve_model_path(config.encoder_name_or_path))
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # unused (we pool E_f ourselves); keeps every parameter trained
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.hidden_size = hidden

        self.fusion_spec, fusion = build_fusion(config, hidden)
        if fusion is not None and self.fusion_spec.stage == "embeddings":
            if not isinstance(getattr(encoder, "embeddings", None), nn.Module):
                raise ValueError(
                    f"{type(encoder).__name__} has no `embeddings` module for {config.fusion}; "
                    "use fusion='none'"
                )
        if fusion is not None and self.fusion_spec.stage == "layer":  # fail now, not at a batch
            fusion_target(encoder, self.fusion_spec.layer_of(config))
        self.fusion = fusion
        self.ss_head = (
            SemanticSyncHead(hidden, config.desc_dim, config.dropout) if config.use_ss else None
        )
        self.triplet_loss = (
            TripletDescriptionLoss(config.tau, config.triplet_include_positives)
            if config.use_ss
            else None
        )
        self.label_attention = (
            LabelGuidedAttention(
                hidden, config.desc_dim, config.num_labels, config.label_logit_scale
            )
            if config.use_label_attention
            else None
        )
        if config.needs_descriptions:  # saved with the weights, so a loaded model needs no store
            self.register_descriptions()
        width = hidden + (config.desc_dim if config.use_ss else 0)
        width += hidden if self.uses_label_summary else 0
        self.classifier = (  # phi of eq. 16: normalisation + linear; a head fusion predicts itself
            None
            if self.fusion_spec.head
            else nn.Sequential(
                nn.LayerNorm(width), nn.Dropout(config.dropout), nn.Linear(width, config.num_labels)
            )
        )

    @property
    def uses_label_summary(self) -> bool:
        """Whether the label-attended summary joins the classifier input."""
        return self.config.use_label_attention and self.config.label_summary

    # --- forward --------------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, Any] | None = None, **inputs: Any) -> ModelOutput:
        """Run on a batch dict keyed by modality (see the module docstring and the README)."""
        batch = {**(batch or {}), **inputs}
        text = batch.get("text_inputs")  # IntentCollator nests the tokenizer output
        text = batch if text is None else text
        input_ids, attention_mask = text["input_ids"], text.get("attention_mask")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if not bool(attention_mask.bool().any(dim=1).all()):
            raise ValueError("every sample needs at least one real text token (attention_mask)")
        encoder_inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if text.get("token_type_ids") is not None:
            encoder_inputs["token_type_ids"] = text["token_type_ids"]

        present = [m for m in self.config.modalities if batch.get(m) is not None]
        label_out, aux = None, {}
        if self.fusion is not None and (present or self.fusion_spec.head):
            hidden, label_out = self._encode_fused(encoder_inputs, batch, present, aux)
        else:
            hidden = self.encoder(**encoder_inputs)[0]  # text only / fusion "none"
        mask = attention_mask.bool()
        pooled = hidden[:, 0] if self.config.pooling == "cls" else masked_mean(hidden, mask)

        parts, semantic_token = [pooled], None
        if self.ss_head is not None:
            semantic_token = self.ss_head(hidden, mask)
            parts.append(semantic_token)
        if self.label_attention is not None:
            if label_out is None:  # not read before an output-stage fusion
                label_out = self._label_tokens(hidden, mask)
            if self.uses_label_summary:
                parts.append(label_out.summary)
        features = torch.cat(parts, dim=-1)
        logits = aux["logits"] if self.classifier is None else self.classifier(features)
        out = ModelOutput(
            logits=logits,
            semantic_token=semantic_token,
            pooled=pooled,
            features=features,
            label_logits=None if label_out is None else label_out.logits,
            hidden_states=hidden,
            aux=aux,
        )
        if any(batch.get(name) is not None for name in ("label_id", "label_ids", "score")):
            self._add_loss(out, batch)
        return out

    def _label_tokens(self, hidden: Tensor, mask: Tensor) -> LabelAttentionOutput:
        """LE-MER label-token attention (eqs. 1-3) over ``hidden`` with the model's descriptions."""
        self._require_descriptions()
        return self.label_attention(hidden, mask, self.descriptions, self.description_mask)

    def _encode_fused(
        self,
        encoder_inputs: dict[str, Tensor],
        batch: Mapping[str, Any],
        present: list[str],
        aux: dict[str, Any],
    ) -> tuple[Tensor, LabelAttentionOutput | None]:
        """The encoder with the fusion applied at its stage (A-ME: eqs. 1, 4-14): ``(hidden, the
        label-token head's output if it ran before the fusion, for LE-MER)``; what the fusion
        hands to the loss terms (``FusionOutput.aux``) goes into ``aux``."""
        expected = self.config.modalities
        if set(present) != set(expected):
            raise ValueError(
                f"this model fuses {'+'.join(expected)}; the batch has "
                f"{'+'.join(present) or 'text only'}"
            )
        features, masks = {}, {}
        for name in expected:
            x = batch[name]
            dim = getattr(self.config, f"{name}_dim")
            if (
                x.dim() != 3
                or x.shape[-1] != dim
                or x.shape[0] != encoder_inputs["input_ids"].shape[0]
            ):
                raise ValueError(f"{name} must be [batch, length, {dim}], got {tuple(x.shape)}")
            features[name] = x.to(self.encoder.dtype)
            given = batch.get(f"{name}_mask")
            masks[name] = (
                torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
                if given is None
                else given.bool()
            )
        text_mask = encoder_inputs["attention_mask"]
        stage, spec = self.fusion_spec.stage, self.fusion_spec
        context = FusionContext(
            descriptions=getattr(self, "descriptions", None),
            description_mask=getattr(self, "description_mask", None),
        )

        def apply(hidden: Tensor) -> Tensor:
            extra = {"context": context} if spec.uses_context else {}
            out = self.fusion(hidden, text_mask, features, masks, **extra)
            if isinstance(out, FusionOutput):
                aux.update(out.aux)
                out = out.hidden
            return out

        if stage == "output":
            hidden = self.encoder(**encoder_inputs)[0]
            label_out = None
            if self.label_attention is not None and spec.uses_context:  # H_t, before LE-MER
                label_out = self._label_tokens(hidden, text_mask.bool())
                context.text_similarity = label_out.similarity
            return apply(hidden), label_out

        def fuse(module: nn.Module, _args: Any, output: Any) -> Any:  # e.g. E_text -> E_m
            hidden = output if isinstance(output, Tensor) else output[0]
            if not isinstance(hidden, Tensor):
                raise TypeError(f"{type(module).__name__} returned {type(output).__name__}")
            fused = apply(hidden)
            return fused if isinstance(output, Tensor) else (fused, *output[1:])

        if stage == "embeddings":
            target = self.encoder.embeddings
        else:  # "layer": 0 = the embeddings, i = encoder layer i
            target = fusion_target(self.encoder, self.fusion_spec.layer_of(self.config))
        handle = target.register_forward_hook(fuse)
        try:
            hidden = self.encoder(**encoder_inputs)[0]  # eq. 14: E_f = Multimodal-Encoder(E_m)
        finally:
            handle.remove()
        return hidden, None

    def loss_terms(self, out: ModelOutput, context: LossContext) -> dict[str, tuple[float, Tensor]]:
        """name -> (weight, per-sample term ``[B]``, NaN where a sample takes no part).

        Eq. 17: the task's loss (CE of eq. 16; BCE for multi-label, MAE for regression:
        ``tasks.main_loss``) + lambda_ss * triplet (eq. 15; several positives for multi-label);
        with label attention also lambda_lga * its CE (LE-MER eq. 3; BCE for multi-label); then
        every term named in ``config.losses`` (a registered ``LOSS_TERMS`` function) with its
        weight, reading ``context``. A method adds a term, not a loop.
        """
        name, value = main_loss(self.config, out.logits, context)
        terms = {name: (self.config.lambda_ce, value)}
        if self.triplet_loss is not None and out.semantic_token is not None:
            self._require_descriptions()
            triplet = self.triplet_loss(
                out.semantic_token,
                description_targets(context),
                self.descriptions,
                self.description_mask,
                context.is_oos,
                reduction="none",
            )
            terms["triplet"] = (self.config.lambda_ss, triplet.float())
        if out.label_logits is not None:
            label_loss = label_attention_loss(self.config, out.label_logits, context)
            terms["label_ce"] = (self.config.lambda_lga, label_loss)
        for name, weight in self.config.losses.items():  # registered terms; built-ins reweighted
            term = terms[name][1] if name in terms else LOSS_TERMS[name](self, out, context)
            terms[name] = (float(weight), term.float())
        return terms

    def _add_loss(self, out: ModelOutput, batch: Mapping[str, Any]) -> None:
        """The weighted sum of ``loss_terms``, each averaged over the samples taking part."""
        context = loss_context(self.config, batch, out.logits.device)
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            terms = self.loss_terms(out, context)
        parts = {name: _mean_taking_part(term) for name, (_, term) in terms.items()}
        out.loss = sum(weight * parts[name] for name, (weight, _) in terms.items())
        out.loss_parts = {name: value.detach() for name, value in parts.items()}
        if not self.training:  # per-sample terms: split losses follow from them exactly
            out.sample_terms = torch.stack(
                [weight * term.detach() for weight, term in terms.values()], dim=1
            )

    # --- save / load ----------------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike, tokenizer: Any = None) -> Path:
        """Write ``model.safetensors``, ``config.json`` and ``encoder/`` (config, tokenizer).

        Everything is written to a temp directory next to ``directory`` and renamed into place,
        so readers never see half a model. An existing ``directory`` is replaced only if it
        holds nothing but a saved model.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        if directory.exists() and set(os.listdir(directory)) - _SAVED_ENTRIES:
            raise FileExistsError(
                f"{directory} holds other files; save the model into its own directory"
            )
        with atomic_directory(directory) as tmp:
            # clone: safetensors refuses tensors that share storage (e.g. tied weights)
            state = {
                k: v.detach().to("cpu").contiguous().clone() for k, v in self.state_dict().items()
            }
            save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
            self.config.save(tmp)
            self.encoder.config.save_pretrained(str(tmp / ENCODER_DIR))
            if tokenizer is not None:
                tokenizer.save_pretrained(str(tmp / ENCODER_DIR))
        log.info("saved A-MESS model to %s", directory)
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> IntentModel:
        """Load a ``save_pretrained`` directory; strict: any missing or extra weight is an error."""
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        directory = Path(directory)
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}")
        config = ModelConfig.load(directory)
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(directory / ENCODER_DIR)))
        model = cls(config, encoder=encoder)
        model.load_state_dict(load_file(str(weights), device=str(device)), strict=True)
        return model.to(device)


def _mean_taking_part(terms: Tensor) -> Tensor:
    """Mean over the non-NaN entries; 0 (still in the graph) when there are none."""
    valid = ~terms.isnan()
    if bool(valid.any()):
        return terms[valid].mean()
    return terms.nan_to_num(0.0).sum() * 0.0


AMessModel = IntentModel  # the names of earlier releases
AMessOutput = ModelOutput
