"""Presets: the published configurations, and the model each one builds (modules, loss terms)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_training_helpers import (  # noqa: F401
    av_mintrec,
    run_cli,
    single_thread,
    text_mintrec,
    tiny_encoder,
    tiny_options,
)

from labelsync.model import IntentModel
from labelsync.training import TrainConfig, Trainer
from labelsync.training.arguments import ConfigError, available_presets
from labelsync.training.presets import preset_layers
from labelsync.training.runs import RunDir


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
    assert {"a-mess", "a-mess+lemer", "text", "mag-bert", "mult", "mvcn"} <= set(
        available_presets()
    )
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


@pytest.mark.parametrize(
    ("preset", "fusion", "parts"),
    [("mag-bert", "AdaptationGate", {"ce"}), ("mult", "MultimodalTransformer", {"ce"})]
    + [("mvcn", "TextGuidedFusion", {"ce", "scc"})],
)
def test_baseline_presets_build_their_fusion_and_nothing_else(tmp_path, preset, fusion, parts):
    config, model, out = _build(tmp_path, preset)
    assert _modules(model) == {"encoder", "fusion", "classifier"}  # no T_f head, no LE-MER
    assert type(model.fusion).__name__ == fusion and set(out.loss_parts) == parts
    assert model.classifier[-1].in_features == model.hidden_size  # pool(E_f) alone
    assert not model.config.use_ss and not model.config.use_label_attention
    if preset == "mag-bert":  # on the embeddings, MIntRec's beta, a learned alignment
        assert model.fusion_spec.stage == "layer" and config.model.mag_layer == 0
        assert (config.model.mag_beta, config.model.mag_dropout) == (0.005, 0.5)
        assert set(model.fusion.gate) == {"video", "audio"} and model.fusion.align is not None
        assert "mag_alpha" in out.aux
    if preset == "mult":  # every ordered modality pair, a memory transformer per modality
        names = ("text", "video", "audio")
        pairs = {f"{s}_to_{t}" for t in names for s in names if s != t}
        assert set(model.fusion.crossmodal) == pairs
        assert set(model.fusion.memory) == {"text", "video", "audio"}
        assert len(model.fusion.crossmodal["audio_to_text"].layers) == 8
    if preset == "mvcn":
        assert len(model.fusion.units) == 1 and set(model.fusion.units[0].cross) == {
            "video",
            "audio",
        }
        assert config.model.losses == {"scc": 1.0}
    shipped = TrainConfig.resolve(None, preset=preset, dataset="mintrec")  # no test overrides
    text = TrainConfig.resolve(None, preset="text", dataset="mintrec")
    for name in ("batch_size", "epochs", "patience", "warmup_ratio"):  # MIntRec's settings
        assert getattr(shipped, name) == getattr(text, name)
    lr = {"mag-bert": 2e-5, "mult": 3e-5, "mvcn": 2e-5}[preset]
    assert (shipped.learning_rate, shipped.max_grad_norm) == (lr, 0.5 if preset == "mult" else 1)


@pytest.mark.parametrize("preset", ["mag-bert", "mult", "mvcn"])
def test_fusion_presets_fall_back_to_text_only_in_one_line(capsys, tmp_path, preset):
    """On data without features; on synthetic features mvcn trains here, mag-bert and mult in
    the baseline sweep (tests/test_sweep_published.py)."""
    datasets = [(text_mintrec(), False)] + ([(av_mintrec(), True)] if preset == "mvcn" else [])
    for data, features in datasets:
        code, _, err = run_cli(
            capsys,
            "train", "mintrec", "--data-dir", data, "--preset", preset, "--out",
            tmp_path / f"run-{features}", "--encoder", tiny_encoder(), "--epochs", "1",
            "--reviewed-descriptions", "--cpu", "--batch-size", "20",
        )  # fmt: skip
        assert code == 0, err
        text = " ".join(err.split())  # the console may wrap the line
        saved = IntentModel.from_pretrained(RunDir(tmp_path / f"run-{features}").model_dir())
        line = (
            f"mintrec: no video/audio features: the {FUSION_OF[preset]} fusion falls back to "
            "text only (the text encoder alone)"
        )
        if features:
            assert "falls back" not in text and saved.fusion is not None
            assert saved.config.modalities == ("video", "audio")
            metrics = RunDir(tmp_path / "run-True").seed_metrics(0)
            assert metrics["history"][0]["scc"] > 0  # the congruity term trained
        else:
            assert text.count(line) == 1, err
            assert saved.fusion is None and saved.config.modalities == ()


FUSION_OF = {"mag-bert": "mag", "mult": "mult", "mvcn": "text-guided"}


def test_the_fallback_line_warns_only_where_features_were_expected(caplog):
    from types import SimpleNamespace

    from labelsync.training.inputs import announce_text_only

    def level(dataset: str, preset: str = "mag-bert", said="falls back", **options) -> list[str]:
        caplog.clear()
        config = TrainConfig.resolve(None, preset=preset, dataset=dataset, **options)
        with caplog.at_level("INFO", logger="labelsync.training.inputs"):
            announce_text_only(config, SimpleNamespace(name=dataset, feature_stores={}))
        return [r.levelname for r in caplog.records if said in r.getMessage()]

    assert level("mintrec") == ["WARNING"]  # released with features: they are missing
    assert level("mintrec", text_only=True) == ["INFO"]  # asked for
    assert level("clinc150") == ["INFO"]  # a text dataset
    assert level("mintrec", fusion="none") == []  # nothing falls back
    # a fusion with its own heads still runs, on the text stream (CARAT with M = 1)
    carat = {"preset": "carat", "task": "multi_label"}
    assert level("clinc150", said="runs on the text stream alone", **carat) == ["INFO"]
    assert level("clinc150", **carat) == []


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
