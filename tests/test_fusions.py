"""Every registered fusion on a tiny random BERT (hidden 32, 2 layers): gradients, padding,
save/load, MAG's identity at a zero gate, the SCC loss term, and the signal that only video and
audio carry."""

from __future__ import annotations

import copy

import pytest
import torch

from labelsync.model import FUSIONS, IntentModel, ModelConfig
from labelsync.model.blocks import align_to_tokens
from labelsync.model.congruity import congruity_loss

LABELS = ["complain", "praise", "apologise"]
MULTIMODAL = ("a-me", "mag", "mult", "text-guided", "concat")
TINY = dict(
    max_text_len=12,
    k=3,
    ame_num_heads=2,
    mult_dim=16,
    mult_heads=2,
    mult_layers=2,
    tg_num_heads=2,
    tg_layers=2,  # the stacking is exercised
    desc_dim=8,
    max_descriptions=2,
)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def encoder():
    """A random 2-layer BERT, hidden 32 (each model gets a deep copy)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=100,
        max_position_embeddings=64,
    )
    return BertModel(config)


def make_model(encoder, fusion: str, seed: int = 0, labels=LABELS, **overrides) -> IntentModel:
    torch.manual_seed(seed)
    fields = dict(
        encoder_name_or_path="tiny", label_names=labels, video_dim=6, audio_dim=5, fusion=fusion
    )
    fields.update(TINY)
    fields.update(overrides)
    model = IntentModel(ModelConfig(**fields), encoder=copy.deepcopy(encoder))
    if model.config.needs_descriptions:
        model.set_descriptions(torch.randn(len(labels), 2, 8))
    return model


def make_batch(seed: int = 1, pad_text: int = 0, pad_video: int = 0, pad_audio: int = 0) -> dict:
    """Three samples of different lengths; extra padding (junk in the features) on request."""
    gen = torch.Generator().manual_seed(seed)
    text_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 6 + [0]])
    ids = torch.randint(1, 100, (3, 7), generator=gen) * text_mask
    video = torch.randn(3, 9, 6, generator=gen)
    video_mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4, [1] * 2 + [0] * 7])
    audio = torch.randn(3, 11, 5, generator=gen)
    audio_mask = torch.tensor([[1] * 11, [1] * 6 + [0] * 5, [1] * 11])

    def pad(x, mask, n, fill):
        extra = fill(x.shape[0], n, *x.shape[2:])
        return torch.cat([x, extra], 1), torch.cat([mask, torch.zeros(3, n, dtype=mask.dtype)], 1)

    ids, text_mask = pad(ids, text_mask, pad_text, lambda *s: torch.zeros(*s, dtype=torch.long))
    video, video_mask = pad(video, video_mask, pad_video, lambda *s: 100 * torch.randn(*s))
    audio, audio_mask = pad(audio, audio_mask, pad_audio, lambda *s: 100 * torch.randn(*s))
    return {
        "input_ids": ids,
        "attention_mask": text_mask,
        "video": video,
        "video_mask": video_mask,
        "audio": audio,
        "audio_mask": audio_mask,
        "label_id": torch.tensor([0, 1, 2]),
    }


def test_the_registry_names_every_fusion_with_its_stage():
    stages = {name: spec.stage for name, spec in FUSIONS.items()}
    assert stages == {
        "none": "none",
        "a-me": "embeddings",
        "mag": "layer",
        "mult": "output",
        "text-guided": "output",
        "concat": "output",
        "le-mer": "output",  # its own tests: tests/test_model_lemer.py
        "carat": "output",  # tests/test_carat.py
        "hycon": "output",  # tests/test_hycon.py
    }


@pytest.mark.parametrize("fusion", MULTIMODAL)
def test_forward_backward_every_parameter_trains(encoder, fusion):
    model = make_model(encoder, fusion, losses={"scc": 1.0})
    out = model(make_batch())
    assert out.logits.shape == (3, 3) and torch.isfinite(out.loss)
    assert set(out.loss_parts) == {"ce", "triplet", "scc"}
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    fusion_grads = [p.grad for n, p in model.named_parameters() if n.startswith("fusion.")]
    assert fusion_grads and all(torch.isfinite(g).all() for g in fusion_grads)
    assert sum(float(g.abs().sum()) for g in fusion_grads) > 0


@pytest.mark.parametrize("fusion", MULTIMODAL)
def test_padding_never_changes_the_logits(encoder, fusion):
    model = make_model(encoder, fusion).eval()
    with torch.no_grad():
        plain = model(make_batch()).logits
        padded = model(make_batch(pad_text=3, pad_video=5, pad_audio=4)).logits
        other = model(make_batch(seed=2)).logits
    assert torch.allclose(plain, padded, atol=1e-5), (plain - padded).abs().max()
    assert not torch.allclose(plain, other, atol=1e-3)  # the inputs do matter


@pytest.mark.parametrize("fusion", MULTIMODAL)
def test_save_and_load_give_identical_logits(encoder, fusion, tmp_path):
    model = make_model(encoder, fusion).eval()
    model.save_pretrained(tmp_path / fusion)
    loaded = IntentModel.from_pretrained(tmp_path / fusion).eval()
    assert loaded.config == model.config
    batch = make_batch()
    with torch.no_grad():
        assert torch.equal(model(batch).logits, loaded(batch).logits)


def test_a_text_only_config_builds_no_fusion_and_a_featureless_batch_skips_it(encoder):
    for fusion in MULTIMODAL:
        text_only = make_model(encoder, fusion, video_dim=None, audio_dim=None)
        assert text_only.fusion is None  # the text encoder alone, whatever the fusion
        out = text_only(make_batch())
        assert torch.isfinite(out.loss)
    batch = {k: v for k, v in make_batch().items() if not k.startswith(("video", "audio"))}
    assert torch.isfinite(make_model(encoder, "mult")(batch).loss)


def test_mag_with_a_zero_gate_is_the_plain_text_encoder(encoder):
    mag = make_model(encoder, "mag", use_ss=False, mag_layernorm=False).eval()
    text = make_model(encoder, "none", use_ss=False, seed=1).eval()
    missing, unexpected = text.load_state_dict(mag.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("fusion.") for k in unexpected)
    batch = make_batch()
    with torch.no_grad():
        assert not torch.allclose(mag(batch).logits, text(batch).logits, atol=1e-4)
        for layer in mag.fusion.shift.values():  # W_m x_m + b_m = 0: the displacement H is 0
            layer.weight.zero_()
            layer.bias.zero_()
        assert torch.equal(mag(batch).logits, text(batch).logits)

    # the paper's LayerNorm (default): a zero gate leaves LayerNorm(Z)
    gate = make_model(encoder, "mag").fusion.eval()
    hidden = torch.randn(3, 7, 32)
    features = {"video": torch.randn(3, 9, 6), "audio": torch.randn(3, 11, 5)}
    masks = {m: torch.ones(3, x.shape[1], dtype=torch.bool) for m, x in features.items()}
    text_mask = torch.ones(3, 7, dtype=torch.bool)
    moved = gate(hidden, text_mask, features, masks)
    assert not torch.allclose(moved.hidden, gate.norm(hidden), atol=1e-4)
    assert float(moved.aux["mag_alpha"].detach().max()) <= 1.0
    with torch.no_grad():
        for layer in gate.shift.values():
            layer.weight.zero_()
            layer.bias.zero_()
    assert torch.allclose(gate(hidden, text_mask, features, masks).hidden, gate.norm(hidden))


def test_mag_sits_where_mag_layer_says_and_reports_its_gate(encoder):
    seen, models = {}, {}
    for layer in (0, 2):
        models[layer] = model = make_model(encoder, "mag", mag_layer=layer).eval()
        model.fusion.register_forward_pre_hook(lambda m, args, k=layer: seen.update({k: args[0]}))
        out = model(make_batch())
        assert out.aux["mag_alpha"].shape == (3, 7)
    embeddings = models[0].encoder.embeddings(input_ids=make_batch()["input_ids"])
    assert torch.allclose(seen[0], embeddings, atol=1e-6)  # layer 0: the embedding output
    assert not torch.allclose(seen[2], embeddings, atol=1e-3)
    with pytest.raises(ValueError, match="fusion layer 3 does not exist"):
        make_model(encoder, "mag", mag_layer=3)


def test_token_alignment_reads_only_real_frames():
    frames = torch.arange(1.0, 7.0)[None, :, None].repeat(1, 1, 2)  # 6 frames, values 1..6
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])  # 4 real frames
    text_mask = torch.tensor([[1, 1, 0]])  # 2 real tokens
    aligned = align_to_tokens(frames, mask, text_mask)
    assert aligned[0, :, 0].tolist() == [1.5, 3.5, 0.0]  # halves of the real frames; pad -> 0


def test_congruity_loss_pulls_samples_to_their_class_centre():
    q = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 1, 1, 7])
    keep = torch.tensor([True, True, True, True, False])  # e.g. an out-of-scope sample
    terms = congruity_loss(q, labels, keep, temperature=0.5)
    assert terms[4].isnan() and not terms[:4].isnan().any()
    unit = torch.nn.functional.normalize(q[:4], dim=-1)
    centres = torch.stack([unit[:2].mean(0), unit[2:].mean(0)])  # eq. 3
    d = ((unit[:, None] - centres[None]) ** 2).sum(-1) / 0.5  # eq. 4
    expected = -torch.log_softmax(-d, dim=1)[torch.arange(4), torch.tensor([0, 0, 1, 1])]
    assert torch.allclose(terms[:4], expected)
    mixed = congruity_loss(q[[0, 2, 1, 3]], torch.tensor([0, 0, 1, 1]), keep[:4], temperature=0.5)
    assert float(mixed.mean()) > float(terms[:4].mean())  # well-separated classes score lower
    one_class = congruity_loss(q[:2], labels[:2], keep[:2])
    assert one_class.isnan().all()  # nothing to contrast


def _signal_data(n: int, seed: int):
    """Text identical for every sample; the class is a direction in the video and audio frames."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    video_dirs = torch.eye(6)[:4] * 3.0
    audio_dirs = torch.eye(5)[:4] * 3.0
    video = torch.randn(n, 8, 6, generator=gen) + video_dirs[labels][:, None]
    audio = torch.randn(n, 10, 5, generator=gen) + audio_dirs[labels][:, None]
    ids = torch.tensor([[2, 11, 12, 13, 3]]).repeat(n, 1)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "video": video,
        "audio": audio,
        "label_id": labels,
    }


def test_only_video_and_audio_carry_the_class_and_every_fusion_finds_it(encoder):
    """4 classes, text identical across classes: ``none`` stays at chance, every fusion learns."""
    train, test = _signal_data(64, seed=0), _signal_data(40, seed=1)
    accuracy = {}
    for fusion in ("none", *MULTIMODAL):
        model = make_model(encoder, fusion, labels=["a", "b", "c", "d"], use_ss=False)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
        order = torch.Generator().manual_seed(0)
        for _ in range(6):  # epochs
            model.train()
            for idx in torch.randperm(64, generator=order).split(16):
                optimizer.zero_grad()
                model({k: v[idx] for k, v in train.items()}).loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = model(test).logits.argmax(-1)
        accuracy[fusion] = float((predicted == test["label_id"]).float().mean())
    assert accuracy["none"] <= 0.35, accuracy  # chance is 0.25: the text says nothing
    for fusion in MULTIMODAL:
        assert accuracy[fusion] >= accuracy["none"] + 0.45, accuracy
