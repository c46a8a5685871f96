"""``AMessModel``: the A-MESS forward pass (seed 003, Section III) + label-guided attention.

Top to bottom:

1. ``E_text``: the pretrained encoder's embedding layer (word + position embeddings, eq. 1).
2. A-ME (``ame.py``): ``E_m = A-ME(E_text, video, audio)`` (eqs. 4-13).
3. Multimodal encoder: the encoder's own layers over ``E_m`` with the text attention mask
   (eq. 14) -> ``E_f``. Steps 1-3 run as one ordinary call of the Hugging Face encoder in which a
   forward hook on its embedding module swaps ``E_text`` for ``E_m``; so the encoder builds its
   attention mask as it always does, for any BERT-like model that has an ``embeddings`` module.
   Without video/audio in the batch, or with ``use_ame=False``, the encoder runs unchanged.
4. Semantic synchronisation: ``T_f = MLP(LayerNorm(MeanPool(E_f)))`` in the description space,
   trained by the triplet description-contrastive loss (eq. 15, ``losses.py``).
5. Label-guided attention (seed 001, LE-MER, ``label_attention.py``).
6. Classifier (eq. 16): ``[pool(E_f), T_f, label summary] -> LayerNorm -> Dropout -> Linear``.
   Loss = CE + lambda_ss * triplet + lambda_lga * label CE (eq. 17 plus LE-MER eq. 3).
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
from .ame import AnchorEmbedding
from .configuration import CONFIG_NAME, AMessConfig
from .label_attention import LabelGuidedAttention
from .losses import TripletDescriptionLoss, pack_description_embeddings

__all__ = ["AMessModel", "AMessOutput", "WEIGHTS_NAME", "ENCODER_DIR"]

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
ENCODER_DIR = "encoder"  # the encoder's config (and optionally tokenizer) inside a saved model
_SAVED_ENTRIES = {WEIGHTS_NAME, CONFIG_NAME, ENCODER_DIR}
IGNORE_INDEX = -100


@dataclass
class AMessOutput:
    """What ``AMessModel.forward`` returns; ``loss`` only when ``label_id`` is in the batch."""

    logits: Tensor  # [B, num_labels]
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


def masked_mean(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean over the positions where ``mask`` is true: ``[B, T, d]`` -> ``[B, d]``."""
    weights = mask.to(hidden.dtype)[..., None]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class SemanticSyncHead(nn.Module):
    """``E_f -> T_f``: pool over the sequence, LayerNorm, 2-layer MLP to the description space."""

    def __init__(self, hidden_dim: int, desc_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, desc_dim),
        )

    def forward(self, hidden: Tensor, mask: Tensor) -> Tensor:
        """``[B, T, d]`` + mask -> ``[B, desc_dim]``."""
        return self.mlp(self.norm(masked_mean(hidden, mask)))


class AMessModel(nn.Module):
    """A-MESS intent classifier over text (+ video, audio) with label-description supervision."""

    def __init__(self, config: AMessConfig, encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        if encoder is None:
            from transformers import AutoModel

            encoder = AutoModel.from_pretrained(resolve_model_path(config.encoder_name_or_path))
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # unused (we pool E_f ourselves); keeps every parameter trained
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.hidden_size = hidden

        self.ame: AnchorEmbedding | None = None
        if config.builds_ame:
            if not isinstance(getattr(encoder, "embeddings", None), nn.Module):
                raise ValueError(
                    f"{type(encoder).__name__} has no `embeddings` module for A-ME; "
                    "use use_ame=False"
                )
            self.ame = AnchorEmbedding(
                hidden,
                {m: getattr(config, f"{m}_dim") for m in config.modalities},
                length=config.max_text_len,
                k=config.k,
                num_heads=config.ame_num_heads,
                ff_mult=config.ame_ff_mult,
                align_method=config.align_method,
                dropout=config.dropout,
            )
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
            shape = (config.num_labels, config.max_descriptions)
            self.register_buffer("descriptions", torch.zeros(*shape, config.desc_dim))
            self.register_buffer("description_mask", torch.zeros(*shape, dtype=torch.bool))
        width = hidden + (config.desc_dim if config.use_ss else 0)
        width += hidden if config.use_label_attention else 0
        self.classifier = nn.Sequential(  # phi of eq. 16: normalisation + linear
            nn.LayerNorm(width), nn.Dropout(config.dropout), nn.Linear(width, config.num_labels)
        )

    # --- descriptions ---------------------------------------------------------------------------

    @property
    def has_descriptions(self) -> bool:
        """Whether ``set_descriptions`` gave at least one label a description."""
        mask = getattr(self, "description_mask", None)
        return mask is not None and bool(mask.any())

    def set_descriptions(
        self, matrix: Tensor | Mapping[str, Any], mask: Tensor | None = None
    ) -> None:
        """Store description embeddings: ``[K, n, D]`` + ``[K, n]`` mask, or name -> ``[n_i, D]``.

        Rows follow ``config.label_names``; a mapping is packed by label name
        (``pack_description_embeddings``). The buffer grows when ``n > config.max_descriptions``.
        """
        if not self.config.needs_descriptions:
            raise ValueError("this model uses no descriptions (use_ss and use_label_attention off)")
        if isinstance(matrix, Mapping):
            matrix, mask = pack_description_embeddings(self.config.label_names, matrix)
        matrix = torch.as_tensor(matrix, dtype=torch.float32)
        expected = (self.config.num_labels, self.config.desc_dim)
        if matrix.dim() != 3 or (matrix.shape[0], matrix.shape[2]) != expected:
            raise ValueError(
                f"descriptions must be [{expected[0]}, n, {expected[1]}], got {tuple(matrix.shape)}"
            )
        mask = (
            torch.ones(matrix.shape[:2], dtype=torch.bool)
            if mask is None
            else torch.as_tensor(mask)
        )
        if tuple(mask.shape) != tuple(matrix.shape[:2]):
            raise ValueError(
                f"description mask {tuple(mask.shape)} does not match {tuple(matrix.shape[:2])}"
            )
        n = max(matrix.shape[1], self.config.max_descriptions)
        device = self.descriptions.device
        padded = torch.zeros(expected[0], n, expected[1], device=device)
        padded_mask = torch.zeros(expected[0], n, dtype=torch.bool, device=device)
        padded[:, : matrix.shape[1]] = matrix.to(device)
        padded_mask[:, : matrix.shape[1]] = mask.to(device).bool()
        self.config.max_descriptions = n
        self.descriptions = padded  # buffers: assignment keeps them registered
        self.description_mask = padded_mask
        missing = [
            name
            for name, m in zip(self.config.label_names, padded_mask, strict=True)
            if not m.any()
        ]
        if missing:
            log.warning(
                "%d label(s) have no descriptions: %s", len(missing), ", ".join(missing[:5])
            )

    def description_scores(self, semantic_token: Tensor) -> Tensor:
        """Cosine of ``T_f`` to each label's nearest description, ``[B, K]`` (-inf: none)."""
        sim = torch.einsum(
            "bd,knd->bkn",
            nn.functional.normalize(semantic_token, dim=-1),
            nn.functional.normalize(self.descriptions, dim=-1),
        )
        return sim.masked_fill(~self.description_mask[None], float("-inf")).amax(dim=-1)

    # --- forward --------------------------------------------------------------------------------

    def forward(self, batch: Mapping[str, Any] | None = None, **inputs: Any) -> AMessOutput:
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
        if self.ame is not None and present:
            hidden = self._encode_fused(encoder_inputs, batch, present)
        else:
            hidden = self.encoder(**encoder_inputs)[0]  # text only / w/o A-ME
        mask = attention_mask.bool()
        pooled = hidden[:, 0] if self.config.pooling == "cls" else masked_mean(hidden, mask)

        parts, semantic_token, label_out = [pooled], None, None
        if self.ss_head is not None:
            semantic_token = self.ss_head(hidden, mask)
            parts.append(semantic_token)
        if self.label_attention is not None:
            self._require_descriptions()
            label_out = self.label_attention(hidden, mask, self.descriptions, self.description_mask)
            parts.append(label_out.summary)
        features = torch.cat(parts, dim=-1)
        logits = self.classifier(features)
        out = AMessOutput(
            logits=logits,
            semantic_token=semantic_token,
            pooled=pooled,
            features=features,
            label_logits=None if label_out is None else label_out.logits,
            hidden_states=hidden,
        )
        if batch.get("label_id") is not None:
            self._add_loss(out, batch["label_id"], batch.get("is_oos"))
        return out

    def _encode_fused(
        self, encoder_inputs: dict[str, Tensor], batch: Mapping[str, Any], present: list[str]
    ) -> Tensor:
        """Eqs. 1, 4-14: the encoder with its embedding output E_text replaced by A-ME's E_m."""
        assert self.ame is not None
        if set(present) != set(self.ame.modalities):
            raise ValueError(
                f"this model fuses {'+'.join(self.ame.modalities)}; "
                f"the batch has {'+'.join(present)}"
            )
        features, masks = {}, {}
        for name in self.ame.modalities:
            x = batch[name]
            dim = getattr(self.config, f"{name}_dim")
            if (
                x.dim() != 3
                or x.shape[-1] != dim
                or x.shape[0] != encoder_inputs["input_ids"].shape[0]
            ):
                raise ValueError(f"{name} must be [batch, length, {dim}], got {tuple(x.shape)}")
            features[name] = x.to(self.classifier[-1].weight.dtype)
            given = batch.get(f"{name}_mask")
            masks[name] = (
                torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
                if given is None
                else given.bool()
            )
        text_mask = encoder_inputs["attention_mask"]

        def fuse(module: nn.Module, args: Any, output: Tensor) -> Tensor:  # E_text -> E_m
            if not isinstance(output, Tensor):
                raise TypeError(
                    f"{type(module).__name__} returned {type(output).__name__}, not a tensor"
                )
            return self.ame(output, text_mask, features, masks)

        handle = self.encoder.embeddings.register_forward_hook(fuse)
        try:
            return self.encoder(**encoder_inputs)[0]  # eq. 14: E_f = Multimodal-Encoder(E_m)
        finally:
            handle.remove()

    def _require_descriptions(self) -> None:
        if not self.has_descriptions:
            raise RuntimeError(
                "no label descriptions: call model.set_descriptions(matrix, mask) first"
            )

    def _add_loss(self, out: AMessOutput, label_id: Tensor, is_oos: Tensor | None) -> None:
        """Loss = CE (eq. 16) + lambda_ss * triplet (eq. 15) + lambda_lga * label CE (LE-MER 3)."""
        labels = torch.as_tensor(label_id, device=out.logits.device).long()
        in_range = (labels >= 0) & (labels < self.config.num_labels)
        ignored = labels == IGNORE_INDEX
        if is_oos is not None:  # OOS without its own class (in-scope-only training) is skipped
            is_oos = torch.as_tensor(is_oos, device=labels.device).bool()
            ignored |= is_oos & ~in_range
        if bool((~in_range & ~ignored).any()):
            bad = labels[~in_range & ~ignored].tolist()
            raise ValueError(
                f"label_id outside [0, {self.config.num_labels}) for in-scope samples: {bad}"
            )

        def ce(logits: Tensor) -> Tensor:
            if not bool(in_range.any()):
                return logits.sum() * 0.0
            return nn.functional.cross_entropy(logits[in_range], labels[in_range])

        def per_sample_ce(logits: Tensor) -> Tensor:
            terms = torch.full((len(labels),), float("nan"), device=logits.device)
            if bool(in_range.any()):
                terms[in_range] = nn.functional.cross_entropy(
                    logits[in_range].float(), labels[in_range], reduction="none"
                )
            return terms

        weights = {"ce": 1.0, "triplet": self.config.lambda_ss, "label_ce": self.config.lambda_lga}
        use_triplet = self.triplet_loss is not None and out.semantic_token is not None
        if use_triplet:
            self._require_descriptions()
            args = (out.semantic_token, labels, self.descriptions, self.description_mask, is_oos)
        if self.training:
            parts = {"ce": ce(out.logits)}
            if use_triplet:
                parts["triplet"] = self.triplet_loss(*args)
            if out.label_logits is not None:
                parts["label_ce"] = ce(out.label_logits)
        else:  # each term once per sample; the batch means follow from them
            with torch.no_grad():
                columns = {"ce": per_sample_ce(out.logits)}
                if use_triplet:
                    columns["triplet"] = self.triplet_loss(*args, reduction="none").float()
                if out.label_logits is not None:
                    columns["label_ce"] = per_sample_ce(out.label_logits)
            parts = {n: c.nanmean().nan_to_num(0.0) for n, c in columns.items()}
            out.sample_terms = torch.stack([weights[n] * c for n, c in columns.items()], dim=1)
        out.loss = sum(weights[name] * value for name, value in parts.items())
        out.loss_parts = {name: value.detach() for name, value in parts.items()}

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
    ) -> AMessModel:
        """Load a ``save_pretrained`` directory; strict: any missing or extra weight is an error."""
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        directory = Path(directory)
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in {directory}")
        config = AMessConfig.load(directory)
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(str(directory / ENCODER_DIR)))
        model = cls(config, encoder=encoder)
        model.load_state_dict(load_file(str(weights), device=str(device)), strict=True)
        return model.to(device)
