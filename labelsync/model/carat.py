"""CARAT as a fusion with its own heads (seed 000, Methodology, eqs. 1-16).

Registered as ``fusion: carat`` (stage ``"output"``, ``head=True``); its settings are
``CaratOptions`` (``method_options.py``), its losses the ``carat_*`` terms (``carat_losses.py``),
its queue and prototypes ``CaratMemory`` (``carat_memory.py``). Top to bottom, for the
modalities M = text (+ video, + audio):

1. Extraction: ``H^t`` = the pretrained encoder's ``E_f`` projected to d; ``H^v``, ``H^a`` =
   ``SequenceEncoder`` (l_v = l_a = ``layers`` Transformer layers) over the frames.
2. Label-wise attention (eq. 1): ``u^m_j = sum_i softmax_i(w^m_j . h^m_i) h^m_i`` over the real
   positions; ``U_o^m [C, d]`` per modality, attention weights independent per modality.
3. En/De and intrinsic vectors: ``Z_o^m = En^m(U_o^m)``, ``D^m`` from the prototypes (eq. 9/10),
   ``U~_o^m = De^m(Z_o^m)``, ``D~^m = De^m(D^m)`` (2-layer MLPs).
4. Two-level reconstruction (eq. 2): ``U_alpha^m = f^m([D~^m in slot m; U~_o^n in the others])``,
   ``U_beta^m = f^m([U_alpha^t; U_alpha^v; U_alpha^a])`` (the same f^m, a 2-layer MLP). Without
   En/De the first level reads ``[U_o^t; U_o^v; U_o^a]`` (eq. 17); without the first level the
   second reads what the first would have; without both the heads read ``U_o``.
5. Max-pooling-like selection (eq. 4): label-wise classifiers ``h_m`` (a vector and a bias per
   label), ``s = max_m h_m(U^m)`` for U = U_o, U_alpha, U_beta.
6. Shuffle aggregation (eqs. 11-13, training only): ``V [B, M, C, d]`` of U_beta; for every
   (modality, label) column the samples are permuted, then for every (sample, label) the
   modalities; ``q^m`` / ``q^^m`` = a sample's C label vectors concatenated, ``h_c`` one linear
   classifier over them. Each label vector keeps its label, so a shuffled row's targets are the
   source samples' (``shuffle_source``).
7. Prediction (eq. 16): ``p = 1/2 (mean_m sigmoid(h_c(q^m)) + sigmoid(s^beta))``, returned as
   logits ``log(p / (1 - p))`` so that the task's sigmoid gives p back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .blocks import FusionOutput, attendable
from .carat_memory import CaratMemory
from .method_options import CaratOptions
from .sequence import SequenceEncoder

__all__ = ["CaratFusion", "CaratOutput", "LabelWiseAttention", "shuffle_columns"]

_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] before the logit


@dataclass
class CaratOutput:
    """What the ``carat_*`` loss terms read (``ModelOutput.aux["carat"]``)."""

    u_o: Tensor  # [B, M, C, d] label-specific representations (eq. 1)
    s_o: Tensor  # [B, C] max-pooled label logits over U_o (eq. 4)
    agg: Tensor  # [B, M, C] h_c(q^m), logits
    u_decoded: Tensor | None = None  # [B, M, C, d] De(En(U_o)), with En/De
    u_alpha: Tensor | None = None  # [B, M, C, d] FRR, with the first level
    s_alpha: Tensor | None = None  # [B, C]
    s_beta: Tensor | None = None  # [B, C], with the second level
    latent: Tensor | None = None  # [B, M, L, C, d_z] normalised Z_o, Z_alpha, Z_beta (En/De)
    agg_shuffled: Tensor | None = None  # [B, M, C] h_c(q^^m), training with a shuffle
    shuffle_source: Tensor | None = None  # [B, M, C] the sample each shuffled vector came from


def _mlp(width_in: int, width_out: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width_in, hidden), nn.ReLU(), nn.Linear(hidden, width_out))


class LabelWiseAttention(nn.Module):
    """Eq. 1: one attention vector ``w_j`` per label over a modality's real positions."""

    def __init__(self, dim: int, labels: int):
        super().__init__()
        self.scores = nn.Linear(dim, labels, bias=False)  # row j = w_j

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:
        """``states [B, L, d]``, ``mask [B, L]`` -> ``U_o [B, C, d]``."""
        scores = self.scores(states).masked_fill(~mask.bool()[..., None], float("-inf"))
        return torch.einsum("blc,bld->bcd", scores.softmax(dim=1), states)


class LabelWiseClassifier(nn.Module):
    """``h_m``: label j's logit from its own vector, ``<v_j, u_j> + b_j``."""

    def __init__(self, dim: int, labels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(labels, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(labels))

    def forward(self, u: Tensor) -> Tensor:
        """``[..., C, d]`` -> ``[..., C]``."""
        return (u * self.weight).sum(dim=-1) + self.bias


def shuffle_columns(
    values: Tensor, sample_wise: bool, modality_wise: bool
) -> tuple[Tensor, Tensor]:
    """Eqs. 11-12 on ``values [B, M, C, d]``: permute the samples of every (modality, label)
    column, then the modalities of every (sample, label). Returns the shuffled values and
    ``source [B, M, C]``, the sample each vector came from (a label never changes column)."""
    b, m, c = values.shape[:3]
    device = values.device
    source = torch.arange(b, device=device)[:, None, None].expand(b, m, c)
    if sample_wise:  # eq. 11
        source = torch.rand(b, m, c, device=device).argsort(dim=0)
        values = values.gather(0, source[..., None].expand_as(values))
    if modality_wise:  # eq. 12
        order = torch.rand(b, m, c, device=device).argsort(dim=1)
        values = values.gather(1, order[..., None].expand_as(values))
        source = source.gather(1, order)
    return values, source


class CaratFusion(nn.Module):
    """The CARAT model around the text encoder (see the module docstring)."""

    def __init__(self, hidden: int, config: Any, options: CaratOptions):
        super().__init__()
        self.options = options
        self.modalities = ("text", *config.modalities)
        d, dz, labels = options.hidden, options.latent, config.num_labels
        n = len(self.modalities)
        # FRR/SRR rebuild a modality from the others: with text alone there are none, and the
        # levels would read only the input-independent intrinsic vectors, so they are skipped
        self.levels = (options.first_level and n > 1, options.second_level and n > 1)
        # H^t: E_f projected to d and layer-normalised, as a post-norm Transformer's output is
        self.text = nn.Sequential(nn.Linear(hidden, d), nn.LayerNorm(d))
        self.extractors = nn.ModuleDict(
            {
                m: SequenceEncoder(
                    getattr(config, f"{m}_dim"), d, options.layers, options.heads, config.dropout
                )
                for m in config.modalities
            }
        )
        self.attention = nn.ModuleDict({m: LabelWiseAttention(d, labels) for m in self.modalities})
        self.classifiers = nn.ModuleDict(
            {m: LabelWiseClassifier(d, labels) for m in self.modalities}
        )
        self.aggregator = nn.Linear(labels * d, labels)  # h_c
        self.memory = self.encoders = self.decoders = self.reconstruct = None
        if options.encode_decode:
            self.encoders = nn.ModuleDict({m: _mlp(d, dz, d) for m in self.modalities})
            self.decoders = nn.ModuleDict({m: _mlp(dz, d, d) for m in self.modalities})
            self.memory = CaratMemory(n, labels, dz, options.queue_size, options.momentum)
        if any(self.levels):  # f^{va2t}, f^{ta2v}, f^{tv2a}
            self.reconstruct = nn.ModuleDict({m: _mlp(n * d, d, d) for m in self.modalities})

    # --- pieces -----------------------------------------------------------------------------

    def _per_modality(self, modules: nn.ModuleDict, values: Tensor) -> Tensor:
        """Apply ``modules[m]`` to ``values[:, m]`` for every modality: ``[B, M, ...]``."""
        return torch.stack(
            [modules[name](values[:, i]) for i, name in enumerate(self.modalities)], dim=1
        )

    def _selected(self, u: Tensor) -> Tensor:
        """Eq. 4: ``max_m h_m(U^m)``, ``[B, M, C, d]`` -> ``[B, C]``."""
        return self._per_modality(self.classifiers, u).max(dim=1).values

    def _reconstruct(self, slots: Tensor) -> Tensor:
        """``f^m`` over ``slots [B, M(target), M(slot), C, d]`` -> ``[B, M, C, d]``."""
        b, n, _, c, d = slots.shape
        joined = slots.permute(0, 1, 3, 2, 4).reshape(b, n, c, n * d)
        return self._per_modality(self.reconstruct, joined)

    def _latent(self, u: Tensor) -> Tensor:
        return nn.functional.normalize(self._per_modality(self.encoders, u), dim=-1)

    # --- forward ----------------------------------------------------------------------------

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> FusionOutput:
        """``E_f`` (+ frames) -> ``FusionOutput(E_f, {"logits", "carat"})``."""
        opts, (first_level, second_level) = self.options, self.levels
        states = {"text": self.text(hidden)}
        # a sample without frames attends to its first (padding) slot instead of giving NaN
        masks = {"text": text_mask.bool(), **{m: attendable(masks[m]) for m in features}}
        for name, extractor in self.extractors.items():
            states[name] = extractor(features[name], masks[name])
        u_o = torch.stack(  # eq. 1
            [self.attention[m](states[m], masks[m]) for m in self.modalities], dim=1
        )
        n = len(self.modalities)
        eye = torch.eye(n, dtype=torch.bool, device=u_o.device)[None, :, :, None, None]
        result = CaratOutput(u_o=u_o, s_o=self._selected(u_o), agg=u_o.new_empty(0))
        if self.encoders is not None:  # En/De: eqs. 2 (first level inputs), 9, 10
            z_o = self._per_modality(self.encoders, u_o)
            e_o = nn.functional.normalize(z_o, dim=-1)
            intrinsic = self.memory.intrinsic(e_o, hard=not self.training)
            result.u_decoded = self._per_modality(self.decoders, z_o)
            d_decoded = self._per_modality(self.decoders, intrinsic)
            first_in = torch.where(eye, d_decoded[:, :, None], result.u_decoded[:, None])
        else:  # eq. 17
            first_in = u_o[:, None].expand(-1, n, -1, -1, -1)
        final = u_o
        if first_level:
            result.u_alpha = final = self._reconstruct(first_in)
            result.s_alpha = self._selected(final)
        if second_level:
            second_in = first_in if result.u_alpha is None else result.u_alpha[:, None]
            final = self._reconstruct(second_in.expand(-1, n, -1, -1, -1))
            result.s_beta = self._selected(final)
        if self.encoders is not None:  # the embeddings of eq. 6: Z_o, Z_alpha, Z_beta
            levels = [u_o] + [result.u_alpha] * first_level + [final] * second_level
            result.latent = torch.stack([self._latent(u) for u in levels], dim=2)
        b, _, c, d = final.shape
        result.agg = self.aggregator(final.reshape(b, n, c * d))  # h_c(q^m), eq. 13
        if self.training and (opts.sample_shuffle or opts.modality_shuffle):
            mixed, result.shuffle_source = shuffle_columns(
                final, opts.sample_shuffle, opts.modality_shuffle
            )
            result.agg_shuffled = self.aggregator(mixed.reshape(b, n, c * d))
        logits = self._predict(result.agg, self._selected(final))
        return FusionOutput(hidden, {"logits": logits, "carat": result})

    def _predict(self, agg: Tensor, selected: Tensor) -> Tensor:
        """Eq. 16 (or one of its halves), as logits."""
        parts = []
        if self.options.predict in ("both", "agg"):
            parts.append(agg.float().sigmoid().mean(dim=1))
        if self.options.predict in ("both", "mrm"):
            parts.append(selected.float().sigmoid())
        p = torch.stack(parts).mean(dim=0).clamp(_EPS, 1.0 - _EPS)
        return torch.log(p) - torch.log1p(-p)
