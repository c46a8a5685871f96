"""ModelConfig: paper defaults, validation, binding, dict and file round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelsync.model import AMessConfig
from labelsync.model.configuration import DEFAULT_ENCODER
from labelsync.offline import resolve_model_path


def test_defaults_follow_the_paper():
    config = AMessConfig(label_names=["complain", "praise"])
    assert config.num_labels == 2
    assert (config.max_text_len, config.max_video_len, config.max_audio_len) == (50, 180, 400)
    assert (config.k, config.tau, config.lambda_ss) == (8, 0.7, 1.0)
    # the published A-MESS: A-ME + semantic synchronisation; LE-MER label attention is an addition
    assert config.fusion == "a-me" and config.use_ss and not config.use_label_attention
    assert config.modalities == () and not config.builds_fusion  # no video/audio dims: text only
    assert AMessConfig(num_labels=2, use_ame=False).fusion == "none"  # the earlier switch
    assert AMessConfig(num_labels=2, video_dim=4, audio_dim=3).modalities == ("video", "audio")


def test_num_labels_alone_names_the_labels():
    assert AMessConfig(num_labels=3).label_names == ["LABEL_0", "LABEL_1", "LABEL_2"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"label_names": ["a", "b"], "num_labels": 3}, "num_labels is 3"),
        ({"label_names": ["a", "a"]}, "duplicates"),
        ({"num_labels": 2, "k": 0}, "k must be"),
        ({"num_labels": 2, "tau": 0.0}, "tau must be"),
        ({"num_labels": 2, "dropout": 1.0}, "dropout must be"),
        ({"num_labels": 2, "video_dim": 0}, "video_dim must be"),
        ({"num_labels": 2, "align_method": "ctc"}, "align_method must be"),
        ({"num_labels": 2, "fusion": "magic"}, "fusion must be one of"),
        ({"num_labels": 2, "pooling": "max"}, "pooling must be"),
        ({"num_labels": 2, "lambda_ss": -1.0}, "loss weights"),
        ({"num_labels": 2, "losses": {"label_ce": 0.0}}, "does not compute.*ce, triplet"),
        ({"num_labels": 2, "task": "multi_label", "losses": {"ce": 0.0}}, "built-in terms: bce"),
    ],
)
def test_validation_errors_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        AMessConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_dict_and_file_round_trip(tmp_path: Path):
    config = AMessConfig(label_names=["x", "y", "z"], video_dim=256, audio_dim=768, k=4)
    assert AMessConfig.from_dict(config.to_dict()) == config
    config.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["label_names"] == ["x", "y", "z"] and "torch" in saved["_versions"]
    assert AMessConfig.load(tmp_path) == config


def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match="unknown ModelConfig fields: typo"):
        AMessConfig.from_dict({"num_labels": 2, "typo": 1})


def test_default_encoder_is_the_shipped_mpnet_and_minilm_resolves_too(tmp_path: Path):
    assert DEFAULT_ENCODER == "all-mpnet-base-v2"
    for name in (DEFAULT_ENCODER, "mpnet", "minilm", "sentence-transformers/all-MiniLM-L6-v2"):
        assert (Path(resolve_model_path(name)) / "config.json").is_file()
    nested = Path(resolve_model_path("mpnet")).parent  # the joined archive nests one level
    assert resolve_model_path(str(nested)) == resolve_model_path("mpnet")
    path = Path(resolve_model_path("minilm"))
    assert (path / "config.json").is_file()
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"


def test_an_unbound_config_is_a_template_that_binds_to_labels():
    template = AMessConfig(k=4)  # no labels yet: what TrainConfig holds
    assert not template.bound and template.label_names == []
    bound = template.bind(["a", "b"], video_dim=6, desc_dim=16)
    assert bound.bound and bound.num_labels == 2 and bound.k == 4 and bound.video_dim == 6
    assert not template.bound  # binding copies
    with pytest.raises(ValueError, match="unknown ModelConfig fields: colour"):
        template.bind(["a"], colour=1)


def test_earlier_spellings_load():
    old = {"num_labels": 2, "use_ame": False, "use_label_attention": True, "encoder": "x"}
    config = AMessConfig.from_dict(old)
    assert config.fusion == "none" and config.use_label_attention
    assert config.encoder_name_or_path == "x"
