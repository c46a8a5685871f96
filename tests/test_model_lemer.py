"""LE-MER complete (seed 001, eqs. 1-12) on a tiny random BERT: the ``le-mer`` fusion (label-frame
attention, A_r, A_l, H_m), its loss terms (eqs. 6, 10, 12), and G2SAM's LGCL loss term."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from test_model_modeling import make_batch, make_model, tiny_bert  # noqa: F401 - fixture

from labelsync.model import AMessModel
from labelsync.model.contrastive import label_contrastive_loss
from labelsync.model.lemer import attention_constraint, masked_softmax
from labelsync.model.losses import LossContext

ALL_TERMS = {"lemer_frames": 0.5, "lemer_constraint": 2.0, "lgcl": 0.25}


@pytest.fixture(scope="module")
def encoder(tiny_bert) -> str:  # noqa: F811 - the tiny random BERT of test_model_modeling
    return tiny_bert


def lemer_model(encoder: str, **overrides) -> AMessModel:
    """The le-mer preset's model parts on the tiny encoder, every LE-MER loss term on."""
    options = dict(
        fusion="le-mer",
        use_ss=False,
        use_label_attention=True,
        label_summary=False,
        lambda_lga=0.5,
        losses=dict(ALL_TERMS),
    )
    return make_model(encoder, **(options | overrides))


def same_labels_batch(**padding) -> dict:
    """Three samples, two of class 0 (LGCL needs a positive pair and a negative)."""
    first, second = make_batch(**padding), make_batch(seed=2, **padding)
    batch = {key: torch.cat([value, second[key][:1]]) for key, value in first.items()}
    return batch | {"label_id": torch.tensor([0, 0, 2]), "is_oos": torch.zeros(3, dtype=bool)}


def test_forward_backward_and_the_weighted_sum_of_eq_12(encoder):
    model = lemer_model(encoder, lambda_ce=0.75).train()
    out = model(same_labels_batch())
    parts = out.loss_parts
    assert set(parts) == {"ce", "label_ce", "lemer_frames", "lemer_constraint", "lgcl"}
    assert all(torch.isfinite(v) and v > 0 for v in parts.values()), parts
    # eq. 12: mu_1 L_m + mu_2 L_c + mu_3 L_g^t + mu_4 L_g^s (+ LGCL)
    expected = 0.75 * parts["ce"] + 0.5 * parts["label_ce"]
    expected = expected + sum(weight * parts[name] for name, weight in ALL_TERMS.items())
    assert torch.allclose(out.loss, expected)
    assert out.features.shape == (3, 32)  # the classifier reads pool(H_m) only
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []
    names = {n for n, _ in model.named_parameters()}
    for part in ("streams.video.labels.label_proj", "streams.audio.query", "merge"):
        assert any(n.startswith(f"fusion.{part}") for n in names), part


def test_the_aux_tensors_follow_eqs_7_to_10(encoder):
    model = lemer_model(encoder).eval()
    batch = make_batch()
    with torch.no_grad():
        out = model(batch)
        plain = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        head = model.label_attention(
            plain[0], batch["attention_mask"], model.descriptions, model.description_mask
        )
    # the label-token head read H_t, the encoder output before the fusion (eqs. 1-3)
    assert torch.allclose(out.label_logits, head.logits, atol=1e-6)
    aux = out.aux["lemer"]
    frames = batch["audio_mask"].bool()
    a_r, a_l = aux["a_r"]["audio"], aux["a_l"]["audio"]
    assert a_r.shape == a_l.shape == (2, 7, 11)
    for matrix in (a_r, a_l):  # attention maps over the real frames only
        assert torch.allclose(matrix.sum(-1), torch.ones(2, 7), atol=1e-5)
        assert matrix[~frames[:, None, :].expand_as(matrix)].abs().max() == 0
    # eq. 9 recomputed from G_t and G_s
    stream = model.fusion.streams["audio"]
    with torch.no_grad():
        h_s = stream.project(batch["audio"])
        g_s = stream.labels(
            h_s, frames, model.descriptions, model.description_mask, summary=False
        ).similarity
        expected = masked_softmax(head.similarity @ g_s.transpose(1, 2), frames[:, None, :])
    assert torch.allclose(a_l, expected, atol=1e-5)
    # eq. 10 by hand: squared differences over real (token, frame) pairs / real tokens
    text = batch["attention_mask"].bool()
    by_hand = torch.stack(
        [((a_l[i] - a_r[i])[text[i]] ** 2).sum() / text[i].sum() for i in range(2)]
    )
    assert torch.allclose(attention_constraint(a_r, a_l, text), by_hand)
    in_range = torch.tensor([True, True])
    context = LossContext(labels=batch["label_id"], in_range=in_range, is_oos=None)
    terms = model.loss_terms(out, context)
    both = torch.stack(
        [attention_constraint(aux["a_r"][m], aux["a_l"][m], text) for m in aux["a_r"]]
    )
    assert torch.allclose(terms["lemer_constraint"][1], both.mean(0))
    # eq. 6: CE of the label-frame logits, mean over the modalities
    ce = [
        torch.nn.functional.cross_entropy(
            aux["frame_logits"][m], batch["label_id"], reduction="none"
        )
        for m in ("video", "audio")
    ]
    assert torch.allclose(terms["lemer_frames"][1], torch.stack(ce).mean(0), atol=1e-6)


def test_padding_does_not_change_outputs_or_loss_terms(encoder):
    model = lemer_model(encoder).eval()
    with torch.no_grad():
        ref = model(same_labels_batch())
        out = model(same_labels_batch(pad_text=5, pad_video=7, pad_audio=3))
    assert torch.allclose(out.logits, ref.logits, atol=1e-5)
    assert torch.allclose(out.label_logits, ref.label_logits, atol=1e-5)
    assert torch.allclose(out.sample_terms, ref.sample_terms, atol=1e-5, equal_nan=True)


def test_each_loss_switch_removes_exactly_its_term(encoder):
    batch = same_labels_batch()
    full = lemer_model(encoder).eval()
    with torch.no_grad():
        reference = full(batch).loss_parts
    for name in ALL_TERMS:
        kept = {k: v for k, v in ALL_TERMS.items() if k != name}
        model = lemer_model(encoder, losses=kept).eval()  # same seed: same weights
        with torch.no_grad():
            out = model(batch)
        assert set(out.loss_parts) == set(reference) - {name}
        for part, value in out.loss_parts.items():
            assert torch.allclose(value, reference[part], atol=1e-6), (name, part)
        expected = out.loss_parts["ce"] + 0.5 * out.loss_parts["label_ce"]
        expected = expected + sum(w * out.loss_parts[k] for k, w in kept.items())
        assert torch.allclose(out.loss, expected)
    no_label_ce = lemer_model(encoder, lambda_lga=0.0).eval()  # mu_3 = 0
    with torch.no_grad():
        out = no_label_ce(batch)
    assert torch.allclose(out.loss, full(batch).loss - 0.5 * reference["label_ce"], atol=1e-6)


def test_save_load_gives_identical_logits_and_terms(encoder, tmp_path: Path):
    model = lemer_model(encoder).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = AMessModel.from_pretrained(tmp_path / "m").eval()
    assert loaded.config.fusion == "le-mer" and loaded.config.losses == ALL_TERMS
    with torch.no_grad():
        a, b = model(same_labels_batch()), loaded(same_labels_batch())
    assert torch.equal(a.logits, b.logits)
    torch.testing.assert_close(a.sample_terms, b.sample_terms, rtol=0, atol=0, equal_nan=True)


def test_text_only_batches_skip_the_fusion_and_its_terms(encoder):
    model = lemer_model(encoder).eval()
    batch = {k: v for k, v in same_labels_batch().items() if not k.startswith(("video", "audio"))}
    with torch.no_grad():
        out = model(batch)
    assert out.aux == {} and torch.isfinite(out.loss)
    assert out.loss_parts["lemer_frames"] == 0 and out.loss_parts["lemer_constraint"] == 0
    assert out.loss_parts["label_ce"] > 0  # eqs. 1-3 still train the text side


def test_le_mer_needs_the_label_token_head(encoder):
    with pytest.raises(ValueError, match="fusion 'le-mer' needs use_label_attention"):
        make_model(encoder, fusion="le-mer", use_label_attention=False)


def test_lgcl_matches_the_supervised_contrastive_formula():
    features = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    taking_part = torch.tensor([True, True, True, False])  # row 3: out of scope, a negative only
    tau = 0.5
    got = label_contrastive_loss(features, labels, taking_part, tau)
    cos = (
        torch.nn.functional.normalize(features, dim=-1)
        @ torch.nn.functional.normalize(features, dim=-1).T
    )

    def term(i: int, p: int) -> float:
        den = sum(math.exp(cos[i, a] / tau) for a in range(4) if a != i)
        return -math.log(math.exp(cos[i, p] / tau) / den)

    assert got[0].item() == pytest.approx(term(0, 1), rel=1e-5)
    assert got[1].item() == pytest.approx(term(1, 0), rel=1e-5)
    assert math.isnan(got[2]) and math.isnan(got[3])  # no positive / takes no part
    features.requires_grad_(True)
    loss = label_contrastive_loss(features, labels, taking_part, tau)[:2].mean()
    loss.backward()  # pulls 0 and 1 together: their cosine rises after a step
    moved = torch.nn.functional.normalize(features - 0.1 * features.grad, dim=-1)
    assert (moved[0] @ moved[1]) > cos[0, 1]


def test_the_label_frame_term_is_bce_per_label_for_a_multi_label_model():
    """Eq. 6 as the label-token head's loss: CE for one class, BCE per label for label sets."""
    from types import SimpleNamespace

    from labelsync.model.lemer import AUX_KEY, frames_term

    torch.manual_seed(0)
    logits = {"video": torch.randn(3, 4), "audio": torch.randn(3, 4)}
    out = SimpleNamespace(aux={AUX_KEY: {"frame_logits": logits}})
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    context = LossContext(
        labels=torch.tensor([0, -1, 1]),
        in_range=torch.tensor([True, True, False]),
        is_oos=None,
        task="multi_label",
        targets=targets,
    )
    term = frames_term(None, out, context)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = torch.stack([bce(v, targets, reduction="none").mean(dim=1) for v in logits.values()])
    assert torch.allclose(term[:2], expected.mean(dim=0)[:2]) and torch.isnan(term[2])
    everyone = torch.ones(3, dtype=bool)
    single = LossContext(labels=torch.tensor([0, 3, 1]), in_range=everyone, is_oos=None)
    ce = torch.nn.functional.cross_entropy
    by_hand = torch.stack([ce(v, single.labels, reduction="none") for v in logits.values()])
    assert torch.allclose(frames_term(None, out, single), by_hand.mean(dim=0))
