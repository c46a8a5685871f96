"""Task heads on the tiny BERT: multi-label (sigmoid + BCE) and regression (scalar + MAE)."""

from __future__ import annotations

import math

import pytest
import torch
from test_model_modeling import make_batch, make_model, tiny_bert  # noqa: F401

from labelsync.model import AMessConfig
from labelsync.model.losses import LOSS_TERMS, register_loss, triplet_description_loss
from labelsync.model.tasks import loss_context, multi_hot

TAU = 0.7


def multi_batch(seed: int = 1) -> dict:
    """The two samples of ``make_batch`` with label sets {0, 2} and {1}."""
    return make_batch(seed) | {"label_ids": torch.tensor([[0, 2], [1, -100]])}


def test_multi_hot_ignores_padding_even_at_index_zero():
    ids = torch.tensor([[0, -100, -100], [2, 1, -100], [-100, -100, -100]])
    assert multi_hot(ids, 3).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_multi_label_head_is_a_sigmoid_per_label_trained_by_bce(tiny_bert):  # noqa: F811
    model = make_model(tiny_bert, task="multi_label").eval()
    out = model(multi_batch())
    assert out.logits.shape == (2, 3)
    assert set(out.loss_parts) == {"bce", "triplet", "label_ce"}
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, targets)
    assert out.loss_parts["bce"].item() == pytest.approx(bce.item(), rel=1e-5)
    # an out-of-scope row takes no part; every parameter still gets a gradient
    model.train()
    out = model(multi_batch() | {"is_oos": torch.tensor([False, True])})
    bce0 = torch.nn.functional.binary_cross_entropy_with_logits(out.logits[0], targets[0])
    assert out.loss_parts["bce"].item() == pytest.approx(bce0.item(), rel=1e-5)
    out = model(multi_batch())
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


def test_triplet_with_several_positives_matches_the_hand_value():
    # labels: 0 -> (1,0); 1 -> (0,1); 2 -> (-1,0). One sample along (1,1), labels {0, 1}.
    descriptions = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[-1.0, 0.0]]])
    embeddings = torch.tensor([[1.0, 1.0]])
    c = 1 / math.sqrt(2)
    expected = -math.log((math.exp(c / TAU) + math.exp(c / TAU)) / math.exp(-c / TAU))
    got = triplet_description_loss(embeddings, torch.tensor([[1, 1, 0]]), descriptions, tau=TAU)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # no labels (no positive) or every label (no negative): the sample takes no part
    none_or_all = torch.tensor([[0, 0, 0], [1, 1, 1]])
    terms = triplet_description_loss(
        embeddings.repeat(2, 1), none_or_all, descriptions, reduction="none"
    )
    assert terms.isnan().all()


def test_regression_head_is_one_score_trained_by_mae_or_mse(tiny_bert):  # noqa: F811
    options = dict(task="regression", label_names=["sentiment"], use_ss=False)
    model = make_model(tiny_bert, use_label_attention=False, **options).eval()
    scores = torch.tensor([1.5, -2.0])
    out = model(make_batch() | {"score": scores})
    assert out.logits.shape == (2, 1) and set(out.loss_parts) == {"mae"}
    mae = (out.logits[:, 0] - scores).abs().mean()
    assert out.loss.item() == pytest.approx(mae.item(), rel=1e-5)
    model = make_model(
        tiny_bert, use_label_attention=False, regression_loss="mse", **options
    ).eval()
    out = model(make_batch() | {"score": torch.tensor([1.5, float("nan")])})  # NaN: no part
    assert out.loss_parts["mse"].item() == pytest.approx((out.logits[0, 0] - 1.5).item() ** 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_names": ["a", "b"], "use_ss": False}, "predicts one score: one label"),
        ({"label_names": ["sentiment"]}, "regression has no classes to describe"),
        ({"label_names": ["s"], "use_ss": False, "regression_loss": "huber"}, "regression_loss"),
    ],
)
def test_regression_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AMessConfig(task="regression", **kwargs)


def test_thresholds_are_per_label_and_multi_label_only():
    config = AMessConfig(task="multi_label", label_names=["a", "b"], thresholds=[0.3, 0.7])
    assert AMessConfig.from_dict(config.to_dict()).thresholds == [0.3, 0.7]
    with pytest.raises(ValueError, match="2 thresholds for 3 labels"):
        AMessConfig(task="multi_label", label_names=["a", "b", "c"], thresholds=[0.3, 0.7])
    with pytest.raises(ValueError, match="thresholds are for multi_label"):
        AMessConfig(label_names=["a", "b"], thresholds=[0.3, 0.7])


def test_registered_terms_read_the_task_targets(tiny_bert):  # noqa: F811
    seen = {}

    def spy(model, out, context):
        seen.update(task=context.task, targets=context.targets, scores=context.scores)
        return out.logits.sum(dim=1) * 0.0

    register_loss("test_task_spy", spy)
    try:
        model = make_model(tiny_bert, task="multi_label", losses={"test_task_spy": 1.0})
        model(multi_batch())
        assert seen["task"] == "multi_label" and seen["scores"] is None
        assert seen["targets"].tolist() == [[1, 0, 1], [0, 1, 0]]
    finally:
        LOSS_TERMS.pop("test_task_spy")
    config = AMessConfig(task="regression", label_names=["s"], use_ss=False)
    context = loss_context(config, {"score": [0.5, 1.0], "label_id": [0, 0]}, torch.device("cpu"))
    assert context.scores.tolist() == [0.5, 1.0] and context.in_range.all()
    with pytest.raises(ValueError, match="label_ids outside"):
        loss_context(
            AMessConfig(task="multi_label", label_names=["a", "b"]),
            {"label_ids": torch.tensor([[0, 2]])},
            torch.device("cpu"),
        )
