"""Triplet description-contrastive loss (seed 003 eq. 15) and the description matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labelsync.model import TripletDescriptionLoss, pack_description_embeddings
from labelsync.model.losses import triplet_description_loss

TAU = 0.7


def _toy():
    """2 labels: label 0 has descriptions (1,0) and (0,1); label 1 has (-1,0) and an empty slot."""
    descriptions = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True], [True, False]])
    embeddings = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # cosine ignores the norm
    labels = torch.tensor([0, 1])
    return embeddings, labels, descriptions, mask


def test_matches_the_hand_computed_value():
    embeddings, labels, descriptions, mask = _toy()
    e = math.exp
    # sample 0 (label 0, direction (1,0)): positives cos 1 and 0, negative cos -1
    loss0 = -math.log((e(1 / TAU) + e(0 / TAU)) / e(-1 / TAU))
    # sample 1 (label 1, direction (0,1)): positive cos 0, negatives cos 0 and 1
    loss1 = -math.log(e(0 / TAU) / (e(0 / TAU) + e(1 / TAU)))
    got = TripletDescriptionLoss(tau=TAU)(embeddings, labels, descriptions, mask)
    assert got.item() == pytest.approx((loss0 + loss1) / 2, rel=1e-6)


def test_infonce_variant_puts_positives_in_the_denominator():
    embeddings, labels, descriptions, mask = _toy()
    e = math.exp
    pos0, neg0 = e(1 / TAU) + e(0), e(-1 / TAU)
    pos1, neg1 = e(0), e(0) + e(1 / TAU)
    expected = (-math.log(pos0 / (pos0 + neg0)) - math.log(pos1 / (pos1 + neg1))) / 2
    got = triplet_description_loss(
        embeddings, labels, descriptions, mask, tau=TAU, include_positives=True
    )
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_oos_and_out_of_range_samples_take_no_part():
    embeddings, labels, descriptions, mask = _toy()
    loss = TripletDescriptionLoss(TAU)
    ref = loss(embeddings, labels, descriptions, mask)
    more = torch.cat([embeddings, torch.randn(3, 2)])
    more_labels = torch.cat([labels, torch.tensor([0, 2, -100])])  # an OOS row, class K, ignore
    is_oos = torch.tensor([False, False, True, True, False])
    assert loss(more, more_labels, descriptions, mask, is_oos).item() == pytest.approx(ref.item())


def test_zero_with_graph_when_no_sample_qualifies():
    embeddings, labels, descriptions, mask = _toy()
    embeddings.requires_grad_(True)
    got = TripletDescriptionLoss(TAU)(embeddings, labels, descriptions, mask, torch.ones(2).bool())
    assert got.item() == 0.0 and got.requires_grad
    got.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_labels_without_descriptions_or_negatives_are_skipped_without_nan():
    embeddings, labels, descriptions, mask = _toy()
    mask = mask.clone()
    mask[1] = False  # label 1 has no descriptions: sample 1 drops out, sample 0 has no negatives
    embeddings.requires_grad_(True)
    got = TripletDescriptionLoss(TAU)(embeddings, labels, descriptions, mask)
    got.backward()
    assert got.item() == 0.0 and torch.isfinite(embeddings.grad).all()


def test_gradients_pull_towards_own_descriptions():
    embeddings = torch.tensor([[1.0, 1.0]], requires_grad=True)
    descriptions = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    TripletDescriptionLoss(TAU)(embeddings, torch.tensor([0]), descriptions).backward()
    assert embeddings.grad[0, 0] < 0 < embeddings.grad[0, 1]  # descent raises x, lowers y


def test_pack_descriptions_by_name_with_ragged_counts():
    matrix, mask = pack_description_embeddings(
        ["Complain", "praise", "Leave"],
        {"complain": np.ones((3, 4)), "Praise": [[2.0] * 4]},
        max_descriptions=2,
    )
    assert matrix.shape == (3, 3, 4) and matrix.dtype == torch.float32
    assert mask.tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert matrix[1, 0].tolist() == [2.0] * 4 and matrix[2].abs().sum() == 0
    with pytest.raises(ValueError, match="one common width"):
        pack_description_embeddings(["a", "b"], {"a": np.ones((1, 3)), "b": np.ones((1, 4))})


def test_per_sample_terms_are_zero_for_skipped_rows_and_average_to_the_mean():
    embeddings, labels, descriptions, mask = _toy()
    e = math.exp
    loss0 = -math.log((e(1 / TAU) + e(0 / TAU)) / e(-1 / TAU))
    more = torch.cat([embeddings, torch.randn(2, 2)])
    more_labels = torch.cat([labels, torch.tensor([0, -100])])
    is_oos = torch.tensor([False, False, True, False])
    loss = TripletDescriptionLoss(TAU)
    terms = loss(more, more_labels, descriptions, mask, is_oos, reduction="none")
    assert terms.shape == (4,) and terms[0].item() == pytest.approx(loss0, rel=1e-6)
    assert terms[2:].isnan().all()  # the OOS and the ignored row take no part
    mean = loss(more, more_labels, descriptions, mask, is_oos)
    assert terms.nanmean().item() == pytest.approx(mean.item(), rel=1e-6)
    with pytest.raises(ValueError, match="reduction must be"):
        loss(more, more_labels, descriptions, mask, reduction="sum")
