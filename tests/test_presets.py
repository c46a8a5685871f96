"""Presets: the published configurations, and the model each one builds (modules, loss terms)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_training_helpers import av_mintrec, run_cli, single_thread, text_mintrec, tiny_options  # noqa: F401

from labelsync.training import TrainConfig, Trainer
from labelsync.training.arguments import ConfigError, available_presets
from labelsync.training.presets import preset_layers


def _modules(model) -> set[str]:
    return {name.split(".")[0] for name, _ in model.named_parameters()}


def _build(tmp_path, preset: str, **changes):
    """The model a preset builds on the synthetic MIntRec with video + audio (tiny encoder)."""
    options = tiny_options(data_dir=str(av_mintrec()), **changes)
    config = TrainConfig.resolve(None, preset=preset, **options)
    trainer = Trainer(config, tmp_path / preset)
    torch.manual_seed(0)
    model = trainer.build_model()
    loader = trainer.loader("train", _tokenizer(options["encoder"]), seed=0)
    return config, model, model(next(iter(loader)))


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def test_the_default_configuration_is_the_a_mess_preset():
    assert {"a-mess", "a-mess+lemer", "text"} <= set(available_presets())
    plain = TrainConfig(dataset="mintrec")
    resolved = TrainConfig.resolve(None, dataset="mintrec")
    assert resolved == plain and resolved.preset == "a-mess"
    assert plain.encoder == "all-mpnet-base-v2"  # the strongest offline base-size encoder
    assert (plain.learning_rate, plain.batch_size, plain.epochs, plain.patience) == (
        2e-5,
        8,
        40,
        8,
    )  # seed 003, III-D
    with pytest.raises(ConfigError, match="unknown preset 'amess' \\(did you mean 'a-mess'"):
        TrainConfig.resolve(None, preset="amess", dataset="mintrec")


def test_layers_flags_over_file_over_preset(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("preset: a-mess+lemer\nmodel: {k: 4, lambda_lga: 0.25}\nepochs: 7\n")
    config = TrainConfig.resolve(file, dataset="mintrec", k=6)
    assert config.preset == "a-mess+lemer" and config.model.use_label_attention
    assert (config.model.k, config.model.lambda_lga, config.epochs) == (6, 0.25, 7)
    assert preset_layers("a-mess+lemer")[0] == preset_layers("a-mess")[0]  # extends


def test_a_mess_builds_exactly_the_published_parts(tmp_path):
    config, model, out = _build(tmp_path, "a-mess")
    assert config.model.fusion == "a-me" and not config.model.use_label_attention
    # A-ME (eqs. 4-13), the encoder (eq. 14), the T_f head (SS) and the classifier (eq. 16)
    assert _modules(model) == {"encoder", "fusion", "ss_head", "classifier"}
    assert model.label_attention is None and not model.uses_label_summary
    assert set(out.loss_parts) == {"ce", "triplet"}  # eq. 17
    hidden, desc = model.hidden_size, model.config.desc_dim
    assert model.classifier[-1].in_features == hidden + desc  # [pool(E_f), T_f]
    assert torch.allclose(out.loss, out.loss_parts["ce"] + out.loss_parts["triplet"])


def test_lemer_and_text_presets_add_and_remove_their_parts(tmp_path):
    _, lemer, out = _build(tmp_path, "a-mess+lemer")
    assert _modules(lemer) == {"encoder", "fusion", "ss_head", "label_attention", "classifier"}
    assert set(out.loss_parts) == {"ce", "triplet", "label_ce"}
    assert lemer.classifier[-1].in_features == 2 * lemer.hidden_size + lemer.config.desc_dim

    _, text, out = _build(tmp_path, "text")
    assert _modules(text) == {"encoder", "classifier"} and set(out.loss_parts) == {"ce"}


def test_the_ablation_sweep_ablates_the_paper_model(tmp_path):
    from pathlib import Path

    from labelsync.training.sweep import Sweep

    sweep = Sweep.from_yaml(
        Path(__file__).parents[1] / "examples/sweeps/ablation.yaml", out=tmp_path, seeds=[0]
    )
    parts = {
        run.config_name: (run.config.model.fusion, run.config.model.use_ss) for run in sweep.runs()
    }
    assert parts == {
        "a-mess": ("a-me", True),
        "wo-ame": ("none", True),
        "wo-ss": ("a-me", False),
        "wo-ss-and-ame": ("none", False),
    }
    assert not any(run.config.model.use_label_attention for run in sweep.runs())


def test_training_on_mpnet_works_offline(capsys, tmp_path):
    """``--encoder all-mpnet-base-v2``: the shipped weights, resolved the same way everywhere."""
    code, out, err = run_cli(
        capsys,
        "train", "mintrec", "--data-dir", text_mintrec(), "--out", tmp_path / "run",
        "--reviewed-descriptions", "--encoder", "all-mpnet-base-v2", "--epochs", "1",
        "--batch-size", "20", "--cpu",
    )  # fmt: skip
    assert code == 0, err
    saved = TrainConfig.from_yaml(tmp_path / "run" / "config.yaml")
    assert saved.encoder == "all-mpnet-base-v2" and saved.preset == "a-mess"
    assert dataclasses.asdict(saved.model)["fusion"] == "a-me"


def test_le_mer_builds_its_parts_and_trains_on_both_layouts(tmp_path):
    """LE-MER (seed 001): the label-token head, the label-guided fusion, eq. 12's terms; a short
    training on the synthetic MIntRec with video + audio, and on text-only data (no fusion)."""
    config, model, out = _build(tmp_path, "le-mer")
    assert config.model.fusion == "le-mer" and not config.model.use_ss
    assert _modules(model) == {"encoder", "fusion", "label_attention", "classifier"}
    assert set(model.fusion.streams) == {"video", "audio"}
    stream = {name.split(".")[0] for name, _ in model.fusion.streams["audio"].named_parameters()}
    assert stream == {"project", "labels", "query"}  # H_s, L_s (eqs. 4-6), W of A_r (eq. 7)
    assert set(out.loss_parts) == {"ce", "label_ce", "lemer_constraint", "lemer_frames"}
    assert model.classifier[-1].in_features == model.hidden_size  # eq. 11 reads pool(H_m)
    weights = {"ce": 1.0, "label_ce": 0.5, "lemer_constraint": 1.0, "lemer_frames": 0.5}
    expected = sum(weights[name] * value for name, value in out.loss_parts.items())
    assert torch.allclose(out.loss, expected)  # eq. 12 with the preset's mu_1..mu_4

    for name, data in (("av", av_mintrec()), ("text", text_mintrec())):
        options = tiny_options(data_dir=str(data), epochs=1, batch_size=20)
        trained = TrainConfig.resolve(None, preset="le-mer", **options)
        summary = Trainer(trained, tmp_path / f"run-{name}").train()
        assert summary["seeds"] == [0], (name, summary)
    from labelsync.training import load_checkpoint

    av_model, _ = load_checkpoint(tmp_path / "run-av" / "seed-0" / "best")
    text_model, _ = load_checkpoint(tmp_path / "run-text" / "seed-0" / "best")
    assert av_model.fusion is not None and av_model.config.fusion == "le-mer"
    assert text_model.fusion is None and text_model.label_attention is not None
