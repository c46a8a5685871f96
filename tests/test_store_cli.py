"""``labelsync index``, ``classify`` and ``store add|remove|info`` end to end (real MiniLM)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from labelsync.store import Embedder, LabelStore

DESCRIPTIONS = {
    "book_flight": [
        "The user wants to book a plane ticket.",
        "The user reserves a seat on a flight.",
    ],
    "weather": ["The user asks what the weather will be like.", "The user wants the forecast."],
    "alarm": ["The user wants to set an alarm for a time.", "The user asks to be woken up."],
}
MORE = {"transfer": ["The user wants to move money from one account to another."]}


@pytest.fixture(scope="session", autouse=True)
def _embedder() -> Embedder:
    return Embedder()  # loaded once; later loads in this process reuse it


def write_yaml(path: Path, mapping: dict) -> Path:
    records = [{"label": k, "descriptions": v} for k, v in mapping.items()]
    path.write_text(yaml.safe_dump({"labels": records}))
    return path


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def built(tmp_path, capsys) -> Path:
    store = tmp_path / "store"
    code, out, err = run_cli(
        capsys, "index", "--descriptions", write_yaml(tmp_path / "d.yaml", DESCRIPTIONS),
        "--out", store,
    )  # fmt: skip
    assert code == 0, err
    assert f"built {store}: 3 labels, 9 vectors (all-MiniLM-L6-v2, 384-d, flat)" in out
    assert "OOS threshold" in out
    return store


def test_index_classify_add_remove_info(built, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys, "classify", "--store", built, "book me a flight to rome", "--json"
    )
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["label"] == "book_flight" and row["in_scope"] is True and len(row["top_k"]) == 3
    assert row["threshold_method"] == "default"

    texts = tmp_path / "texts.txt"
    texts.write_text("will it rain tomorrow\n\nwake me up at seven\n")
    code, out, _ = run_cli(capsys, "classify", "--store", built, "--file", texts, "--top-k", "2")
    assert code == 0 and "weather" in out and "alarm" in out and "(default, from the store" in out

    more = write_yaml(tmp_path / "more.yaml", MORE)
    code, out, _ = run_cli(capsys, "store", "add", built, "--descriptions", more)
    assert code == 0 and "added 1 labels" in out and "4 labels, 11 vectors" in out
    code, out, _ = run_cli(
        capsys, "classify", "--store", built, "send 50 dollars to savings", "--json"
    )
    assert json.loads(out)["label"] == "transfer"

    code, out, _ = run_cli(capsys, "store", "remove", built, "Weather")
    assert code == 0 and "removed weather" in out and "3 labels, 8 vectors" in out
    code, out, _ = run_cli(capsys, "store", "info", built, "--json")
    info = json.loads(out)
    assert [r["label"] for r in info["labels"]] == ["book_flight", "alarm", "transfer"]
    assert info["meta"]["embedder"] == "all-MiniLM-L6-v2" and info["meta"]["index"] == "flat"
    code, out, _ = run_cli(capsys, "store", "info", built)
    assert code == 0 and "transfer" in out and "OOS threshold" in out and "default" in out


def test_index_with_examples_and_calibration(tmp_path, capsys):
    rows = ["text\tlabel"] + [f"book a flight to city {i}\tbook_flight" for i in range(8)]
    rows += ["what's the forecast\tweather", "set an alarm\talarm", "who won the game\toos"]
    rows += ["hello\tunknown_label"]
    examples = tmp_path / "train.tsv"
    examples.write_text("\n".join(rows) + "\n")
    descriptions = write_yaml(tmp_path / "d.yaml", DESCRIPTIONS)
    stores = []
    for name in ("a", "b"):
        stores.append(tmp_path / name)
        code, out, err = run_cli(
            capsys, "index", "--descriptions", descriptions, "--out", stores[-1],
            "--examples", examples, "--shots", "3", "--calibrate", examples, "--index", "hnsw",
        )  # fmt: skip
        assert code == 0, err
        assert "5 examples" in out and "OOS threshold" in out
    first, second = (LabelStore.load(s) for s in stores)
    picked = first.entry("book_flight").examples
    assert len(picked) == 3 and picked == second.entry("book_flight").examples  # fixed seed
    assert first.index_type == "hnsw" and first.threshold is not None
    code, out, _ = run_cli(capsys, "classify", "--store", stores[0], "who won the game", "--json")
    assert json.loads(out)["in_scope"] is False


def test_bad_input_exits_1_with_one_line(built, tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    no_desc = tmp_path / "nodesc.yaml"
    no_desc.write_text("labels:\n  - label: weather\n    descriptions:\n")  # [] = name only
    before = digest(built)
    cases = [
        (["index", "--descriptions", empty, "--out", tmp_path / "x"], "no labels found"),
        (["index", "--descriptions", no_desc, "--out", tmp_path / "x"], "no 'descriptions' list"),
        (["classify", "--store", built], "no text to classify"),
        (["classify", "--store", tmp_path / "nowhere", "hi"], "label store not found"),
        (["store", "remove", built, "alarm", "nope"], "unknown label 'nope'"),
        (["store", "add", built, "--descriptions", write_yaml(tmp_path / "a.yaml", DESCRIPTIONS)],
         "already in the store"),
    ]  # fmt: skip
    for argv, message in cases:
        code, out, err = run_cli(capsys, *argv)
        assert code == 1, (argv, out, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()
    assert digest(built) == before  # failed commands wrote nothing
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    labels = built / "labels.json"
    labels.write_text(labels.read_text().replace("plane ticket", "train ticket"))
    code, _, err = run_cli(capsys, "classify", "--store", built, "hello")
    assert code == 1 and "labels.json was changed after the store was saved" in err
    (built / "index.faiss").unlink()
    code, _, err = run_cli(capsys, "store", "info", built)
    assert code == 1 and "index.faiss is missing" in err


def test_bad_usage_exits_2(built, capsys):
    code, _, err = run_cli(capsys, "index", "--out", built)
    assert code == 2 and "exactly one of --descriptions or --labels" in err
    code, _, err = run_cli(capsys, "index", "--labels", "mintrec", "--out", built, "--index", "ivf")
    assert code == 2 and "flat or hnsw" in err
    fit_only = ("--head", "nearest")
    code, _, err = run_cli(capsys, "index", "--labels", "mintrec", "--out", built, *fit_only)
    assert code == 2 and "--head only apply with --fit" in err


def test_cuda_device_without_gpu_support_is_one_line(capsys, tmp_path):
    from labelsync.store import index as faiss_index

    if faiss_index.gpu_available():
        pytest.skip("faiss-gpu sees a GPU here")
    code, _, err = run_cli(capsys, "classify", "--store", str(tmp_path), "--device", "cuda", "hi")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "device 'cuda'" in err and ("no CUDA GPU" in err or "needs faiss-gpu" in err)
