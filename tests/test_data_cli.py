"""End-to-end: ``labelsync data inspect`` and ``labelsync convert-features`` through cli.main."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from labelsync.cli import main
from labelsync.data import open_feature_store
from labelsync.data.synthetic import MINTREC_SIZES, write_custom, write_mintrec, write_mintrec2

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLINC150 = SHARED_DATA / "clinc150" / "data_full.json"
needs_clinc = pytest.mark.skipif(
    not CLINC150.is_file(), reason=f"CLINC150 not found at {CLINC150} (shared data folder absent)"
)


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main([*map(str, args)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def mintrec_dir(tmp_path_factory) -> Path:
    return write_mintrec(tmp_path_factory.mktemp("mintrec"), MINTREC_SIZES, seed=2)


def test_inspect_mintrec_prints_official_split_sizes(capsys, mintrec_dir):
    code, out, err = run(capsys, "data", "inspect", "mintrec", "--data-dir", mintrec_dir)
    assert code == 0, err
    sizes = {}
    for split in ("train", "dev", "test"):
        match = re.search(rf"│ {split}\s+│\s+(\d+) │\s+(\d+) │\s+(\d+) │\s+(\d+)/20", out)
        assert match, out
        sizes[split] = tuple(int(g) for g in match.groups())
    assert sizes == {
        "train": (1334, 1334, 0, 20),
        "dev": (445, 445, 0, 20),
        "test": (445, 445, 0, 20),
    }
    assert "mintrec from" in out and "modalities: text" in out
    assert "Label distribution" in out and "Ask for help" in out
    assert "warning" not in err


def test_inspect_json_output(capsys, mintrec_dir):
    code, out, err = run(capsys, "data", "inspect", "mintrec", "-d", mintrec_dir, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert {s: v["samples"] for s, v in summary["splits"].items()} == MINTREC_SIZES
    distribution = summary["label_distribution"]
    assert sum(counts["train"] for counts in distribution.values()) == 1334
    assert summary["warnings"] == [] and summary["oos_label"] is None


def test_inspect_mintrec2_with_features_and_missing_labels_warning(capsys, tmp_path):
    root = write_mintrec2(
        tmp_path,
        {"train": 40, "dev": 10, "test": 30},
        {"train": 4, "dev": 2, "test": 3},
        features="npz",
        video_dim=8,
        audio_dim=6,
    )
    code, out, err = run(capsys, "data", "inspect", "mintrec2", "--data-dir", root, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["oos_label"] == "UNK" and summary["modalities"] == ["text", "video", "audio"]
    train = summary["splits"]["train"]
    assert (train["samples"], train["in_scope"], train["out_of_scope"]) == (44, 40, 4)
    assert train["features"]["video"]["dim"] == 8 and train["features"]["audio"]["dim"] == 6
    assert train["features"]["video"]["coverage"] == 1.0
    assert summary["label_distribution"]["UNK"] == {"train": 4, "dev": 2, "test": 3}
    assert summary["splits"]["dev"]["labels_present"] == 10
    assert "warning: split 'dev': 20 labels have no samples" in err
    # and the table view shows the features section
    code, out, _ = run(capsys, "data", "inspect", "mintrec2", "--data-dir", root)
    assert code == 0 and "video (npz)" in out and "out-of-scope label 'UNK'" in out


def test_inspect_refuses_tsv_without_label_column(capsys, tmp_path):
    root = write_mintrec(tmp_path, {"train": 20, "dev": 20, "test": 20})
    path = root / "train.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row[:4] for row in csv.reader(handle, delimiter="\t")]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)
    before = sorted(p.name for p in root.iterdir())
    code, out, err = run(capsys, "data", "inspect", "mintrec", "--data-dir", root)
    line = assert_one_line_error(code, out, err)
    assert line == (
        f"error: {path}: line 1: missing column 'label' (header: season, episode, clip, text)"
    )
    assert out == "" and sorted(p.name for p in root.iterdir()) == before


def test_inspect_pickle_needs_allow_pickle_then_convert(capsys, tmp_path):
    root = write_mintrec(
        tmp_path, {"train": 20, "dev": 20, "test": 20}, features="pickle", video_dim=4, audio_dim=3
    )
    pickles = [root / "video_data" / "video_feats.pkl", root / "audio_data" / "audio_feats.pkl"]
    # found pickles without the opt-in: text only, said in one warning naming them and the flag
    code, out, err = run(capsys, "data", "inspect", "mintrec", "-d", root, "--json")
    assert code == 0, err
    assert json.loads(out)["modalities"] == ["text"]
    warning = " ".join(err.split())  # the log handler wraps long lines
    assert "pickle feature files not loaded: video_data/video_feats.pkl," in warning
    assert "audio_data/audio_feats.pkl; pass --allow-pickle" in warning
    assert warning.count("WARNING") == 1
    # the same file named explicitly without the opt-in stays an error
    code, out, err = run(
        capsys, "data", "inspect", "mintrec", "-d", root, "--video-feats", pickles[0]
    )
    assert code == 1 and out == "" and "Traceback" not in err
    line = err.splitlines()[-1]
    assert line.startswith(f"error: {pickles[0]}: pickle files can run code")
    assert "--allow-pickle" in line and "convert-features" in line

    code, out, err = run(capsys, "data", "inspect", "mintrec", "-d", root, "--allow-pickle")
    assert code == 0, err
    assert "video (pickle)" in out

    for src in pickles:
        dst = src.with_suffix(".safetensors")
        code, out, err = run(capsys, "convert-features", src, dst, "--allow-pickle")
        assert code == 0, err
        assert re.search(rf"wrote .*{src.stem}\.safetensors \(60 keys, dim \d", out)
    # safetensors is now preferred over the pickles: no opt-in needed, and no warning
    code, out, err = run(capsys, "data", "inspect", "mintrec", "-d", root, "--json")
    assert code == 0, err
    assert "WARNING" not in err
    features = json.loads(out)["splits"]["test"]["features"]
    assert features["video"]["format"] == "safetensors" and features["video"]["dim"] == 4
    assert features["audio"]["dim"] == 3


def test_convert_features_refuses_pickle_without_opt_in(capsys, tmp_path):
    root = write_mintrec(tmp_path, {"train": 20, "dev": 1, "test": 1}, features="pickle")
    dst = tmp_path / "out.safetensors"
    src = root / "video_data" / "video_feats.pkl"
    line = assert_one_line_error(*run(capsys, "convert-features", src, dst))
    assert "pickle files can run code" in line
    assert not dst.exists() and not list(tmp_path.glob(".out.safetensors*"))


def test_convert_features_npz_end_to_end(capsys, tmp_path):
    arrays = {"a": np.arange(8, dtype=np.float32).reshape(4, 2), "b": np.ones((2, 2), np.float32)}
    np.savez(tmp_path / "f.npz", **arrays)
    code, out, err = run(capsys, "convert-features", tmp_path / "f.npz", tmp_path / "f.safetensors")
    assert code == 0, err
    assert "(2 keys, dim 2," in out
    store = open_feature_store(tmp_path / "f.safetensors")
    np.testing.assert_array_equal(store["a"], arrays["a"])


def test_inspect_custom_data_with_oos_and_explicit_labels(capsys, tmp_path):
    root = write_custom(
        tmp_path / "d",
        ["greet", "thanks"],
        {"train": 4, "test": 2},
        oos_label="none",
        oos_per_split=1,
    )
    code, out, err = run(capsys, "data", "inspect", root, "--oos-label", "none", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dataset"] == "custom" and list(summary["splits"]) == ["train", "test"]
    assert summary["splits"]["train"]["out_of_scope"] == 1
    line = assert_one_line_error(
        *run(capsys, "data", "inspect", root, "--labels", "mintrec", "--oos-label", "none")
    )
    assert "unknown label 'thanks'" in line and "did you mean 'Thank'?" in line


def test_inspect_unknown_dataset_is_one_line(capsys):
    line = assert_one_line_error(*run(capsys, "data", "inspect", "no-such-dataset"))
    assert "unknown dataset 'no-such-dataset'" in line


def test_data_help(capsys):
    code, out, _ = run(capsys, "data", "inspect", "--help")
    assert code == 0 and "--data-dir" in out and "--allow-pickle" in out


@needs_clinc
def test_inspect_clinc150(capsys):
    code, out, err = run(capsys, "data", "inspect", "clinc150", "-d", CLINC150.parent, "--json")
    assert code == 0, err
    splits = json.loads(out)["splits"]
    assert {s: (v["in_scope"], v["out_of_scope"]) for s, v in splits.items()} == {
        "train": (15000, 100),
        "dev": (3000, 100),
        "test": (4500, 1000),
    }


def test_inspect_each_synthetic_release_layout(capsys, tmp_path):
    layouts = {
        "mintrec": write_mintrec(
            tmp_path / "m1", {"train": 6, "dev": 3, "test": 3}, features="pickle", video_dim=256
        ),
        "mintrec-tcl-map": write_mintrec(
            tmp_path / "m1t",
            {"train": 6, "dev": 3, "test": 3},
            features="safetensors",
            video_dim=1024,
            feature_names=("swin_feats", "wavlm_feats"),
        ),
        "mintrec2": write_mintrec2(
            tmp_path / "m2",
            {"train": 6, "dev": 3, "test": 3},
            {"train": 2, "dev": 1, "test": 2},
            features="pickle",
        ),
    }
    expected_files = {
        "mintrec": ["video_data/video_feats.pkl", "audio_data/audio_feats.pkl"],
        "mintrec-tcl-map": [
            "video_data/swin_feats.safetensors",
            "audio_data/wavlm_feats.safetensors",
        ],
        "mintrec2": [
            "in-scope/video_data/swin_roi.pkl",
            "out-of-scope/MIntRec2.0-OOD/video_data/swin_roi.pkl",
            "in-scope/audio_data/wavlm_feats.pkl",
            "out-of-scope/MIntRec2.0-OOD/audio_data/wavlm_feats.pkl",
        ],
    }
    for layout, root in layouts.items():
        name = layout.split("-")[0]
        args = ("data", "inspect", name, "-d", root, "--allow-pickle")
        code, out, err = run(capsys, *args, "--json")
        assert code == 0 and "WARNING" not in err, err
        summary = json.loads(out)
        video_dim = 1024 if layout == "mintrec-tcl-map" else 256
        oos = {"train": 2, "dev": 1, "test": 2} if name == "mintrec2" else dict.fromkeys(SPLITS3, 0)
        for split, info in summary["splits"].items():
            assert info["out_of_scope"] == oos[split]
            assert info["features"]["video"]["dim"] == video_dim
            assert info["features"]["audio"]["dim"] == 768
            assert (
                info["features"]["video"]["coverage"] == info["features"]["audio"]["coverage"] == 1
            )
        files = [
            f["name"] for m in ("video", "audio") for f in summary["feature_files"][m]["files"]
        ]
        assert files == expected_files[layout]
        assert summary["max_lengths"] == (
            {"text": 50, "video": 180, "audio": 400}
            if name == "mintrec2"
            else {"text": 50, "video": 230, "audio": 480}
        )
        code, out, err = run(capsys, *args)
        assert code == 0, err
        assert (
            "Feature files" in out
            and f"video ({summary['splits']['test']['features']['video']['format']})" in out
        )
        print(f"--- {layout}\n{out}", file=sys.__stdout__)  # shown with pytest -s


SPLITS3 = ("train", "dev", "test")


def test_inspect_feature_flags_one_spelling_and_ambiguity(capsys, tmp_path):
    root = write_mintrec(
        tmp_path, {"train": 4, "dev": 2, "test": 2}, features="npz", video_dim=4, audio_dim=3
    )
    write_mintrec(
        tmp_path / "swin",
        {"train": 4, "dev": 2, "test": 2},
        features="npz",
        video_dim=6,
        feature_names=("swin_feats", "wavlm_feats"),
    )
    swin = root / "video_data" / "swin_feats.npz"
    (tmp_path / "swin" / "video_data" / "swin_feats.npz").rename(swin)
    line = assert_one_line_error(*run(capsys, "data", "inspect", "mintrec", "-d", root))
    assert (
        "2 candidate video feature files: video_data/video_feats.npz, video_data/swin_feats.npz"
        in line
    )
    for flag in ("--video-feats", "--video"):  # --video: the older spelling, kept hidden
        code, out, err = run(capsys, "data", "inspect", "mintrec", "-d", root, flag, swin, "--json")
        assert code == 0, err
        assert json.loads(out)["splits"]["train"]["features"]["video"]["dim"] == 6
        assert "video_data/video_feats.npz" in " ".join(err.split())  # named as unused
    code, _, err = run(
        capsys, "data", "inspect", "mintrec", "-d", root, "--video", swin, "--video-feats", swin
    )
    assert code == 2 and "older spelling of --video-feats" in err
    code, out, _ = run(capsys, "data", "inspect", "--help")
    assert "--video-feats" in out and "--audio-feats" in out and "--video " not in out
