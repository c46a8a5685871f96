"""Fitting a label store's body on a few examples (real MiniLM, real FAISS, CLINC150 rows)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CLINC150, needs_clinc, run_cli

from labelsync.errors import LabelsyncError
from labelsync.store import Embedder, LabelStore
from labelsync.store.fit import FitConfig, make_pairs
from labelsync.store.vectors import humanize

pytestmark = needs_clinc

# six confusable banking intents: names alone mix them up
LABELS = ["transfer", "balance", "bill_balance", "pay_bill", "account_blocked", "freeze_account"]
# small and fast: 96 pairs (6 steps); a higher learning rate than the default makes up for it
QUICK = {"max_pairs": 96, "learning_rate": 1e-4, "progress": False}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The CPU is shared: one torch thread keeps these small fits fast under load."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def clinc() -> dict:
    data = json.loads(CLINC150.read_text())
    return {
        "train": {label: [t for t, g in data["train"] if g == label][:3] for label in LABELS},
        "test": [(t, g) for t, g in data["test"] if g in LABELS],
        "oos": [(t, "oos") for t, _ in data["oos_test"][:20]],
    }


def accuracy(store: LabelStore, rows: list[tuple[str, str]]) -> float:
    predictions = store.classify([t for t, _ in rows])
    return float(np.mean([p.label == g for p, (_, g) in zip(predictions, rows, strict=True)]))


@pytest.fixture(scope="module")
def fitted(embedder, clinc) -> tuple[LabelStore, float, float]:
    store = LabelStore.build(LABELS, embedder=embedder)
    store.add_examples(clinc["train"])
    before_threshold, before = store.threshold, accuracy(store, clinc["test"])
    store.fit(dev=clinc["test"][:30] + clinc["oos"], **QUICK)  # the store's own examples
    return store, before, before_threshold


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_pairs_are_seeded_balanced_and_use_anchors():
    examples = {"a": ["a one", "a two"], "b": ["b one"]}
    anchors = {"a": ["a", "a: about a"], "b": ["b"]}
    config = FitConfig(pairs_per_example=4, seed=3, loss="cosine")  # SetFit's: pairs of both
    first, second, score = make_pairs(examples, anchors, config)
    assert (first, second, score) == make_pairs(examples, anchors, config)  # seeded
    assert len(first) == 2 * 4 * 3 and score.count(1.0) == score.count(0.0) == 12
    label = {t: t[0] for group in (*examples.values(), *anchors.values()) for t in group}
    for one, two, s in zip(first, second, score, strict=True):
        assert one in {"a one", "a two", "b one"} and (label[one] == label[two]) == (s == 1.0)
    assert {"a", "a: about a"} & set(second)  # names and descriptions join the positives
    plain = make_pairs(examples, anchors, FitConfig(pairs_per_example=4, anchors=False))
    assert not {"a", "a: about a", "b"} & set(plain[1])
    assert ("b one", "b one", 1.0) in zip(*plain, strict=True)  # alone: paired with itself
    assert set(plain[2]) == {1.0} and len(plain[0]) == 4 * 3  # ranking: the batch has negatives
    assert len(make_pairs(examples, anchors, FitConfig(max_pairs=5))[0]) == 5
    with pytest.raises(LabelsyncError, match="at least 2 labels"):
        make_pairs({"a": ["x"]}, {}, config)
    with pytest.raises(LabelsyncError, match="head must be one of"):
        FitConfig(head="svm")


def test_fit_improves_held_out_accuracy_and_rederives_the_threshold(fitted, clinc, embedder):
    store, before, before_threshold = fitted
    after = accuracy(store, clinc["test"])
    assert after >= before + 0.03, (before, after)
    info = store.fit_info
    assert store.fitted and info["examples"] == 18 and info["pairs"] == 96
    assert info["config"]["anchors"] is True and store.head.labels == LABELS  # the defaults
    dev = info["dev"]
    assert dev["rows"] == 50 and dev["after"]["out_of_scope"] == 20 and "auroc" in dev["before"]
    threshold = store.threshold_info
    assert threshold.method == "default" and threshold.value != pytest.approx(before_threshold)
    # the shared, shipped model was not touched: a new store still embeds as before
    fresh = LabelStore.build(LABELS, embedder=Embedder())
    names = [humanize(label) for label in LABELS]
    np.testing.assert_allclose(fresh.vectors.name_vectors(), embedder.encode(names), atol=1e-6)
    assert not np.allclose(store.vectors.name_vectors(), fresh.vectors.name_vectors(), atol=1e-3)


def test_fitted_store_round_trip_and_strict_body(fitted, clinc, tmp_path):
    store, _, _ = fitted
    path = store.save(tmp_path / "s")
    meta = json.loads((path / "meta.json").read_text())
    body = path / "body.safetensors"
    assert meta["sha256"]["body.safetensors"] == hashlib.sha256(body.read_bytes()).hexdigest()
    assert meta["fit"]["config"] == store.fit_info["config"] and meta["head"]["labels"] == LABELS
    assert (path / "head.safetensors").is_file()
    loaded = LabelStore.load(path)
    assert loaded.fitted and loaded.threshold_info == store.threshold_info
    texts = [t for t, _ in clinc["test"][:20]]
    np.testing.assert_allclose(loaded.scores(texts), store.scores(texts), atol=1e-5)
    mine, theirs = store.classify(texts), loaded.classify(texts)  # ranked by the logistic head
    assert [p.label for p in theirs] == [p.label for p in mine]
    np.testing.assert_allclose([p.score for p in theirs], [p.score for p in mine], atol=1e-5)

    data = bytearray(body.read_bytes())
    data[-10] ^= 0xFF  # one weight changed
    body.write_bytes(bytes(data))
    with pytest.raises(LabelsyncError, match="body.safetensors was changed after the store"):
        LabelStore.load(path)

    # a body that hashes right but lacks a tensor: refused when the model is built from it
    from safetensors.torch import load, save

    tensors = load(store.body_bytes())
    tensors.pop(sorted(tensors)[0])
    body.write_bytes(save(tensors))
    meta["sha256"]["body.safetensors"] = hashlib.sha256(body.read_bytes()).hexdigest()
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LabelsyncError, match="does not fit the base model: 1 missing"):
        LabelStore.load(path).classify("hello")
    body.unlink()
    with pytest.raises(LabelsyncError, match="incomplete label store, body.safetensors is missing"):
        LabelStore.load(path)


def test_interrupted_fit_leaves_the_old_store(embedder, clinc, tmp_path):
    from transformers import TrainerCallback

    class CtrlC(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    store = LabelStore.build(LABELS[:3], embedder=embedder)
    store.add_examples({k: clinc["train"][k] for k in LABELS[:3]})
    path = store.save(tmp_path / "s")
    before = digest(path)
    loaded = LabelStore.load(path, embedder=embedder)
    scores = loaded.scores(["pay my phone bill"])
    with pytest.raises(KeyboardInterrupt):
        loaded.fit(callbacks=[CtrlC()], **QUICK)
    assert not loaded.fitted and loaded.threshold_info.method == "default"
    np.testing.assert_array_equal(loaded.scores(["pay my phone bill"]), scores)
    assert digest(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_cli_index_fit_classify_add_and_info(clinc, tmp_path, capsys):
    rows = ["text,label"] + [f'"{t}",{g}' for g, texts in clinc["train"].items() for t in texts]
    rows += [f'"{t}",{g}' for t, g in clinc["test"][::12]] + [f'"{t}",oos' for t, _ in clinc["oos"]]
    train = tmp_path / "train.csv"
    train.write_text("\n".join(rows) + "\n")
    labels, store = tmp_path / "labels.txt", tmp_path / "store"
    labels.write_text("\n".join(LABELS) + "\n")
    code, out, err = run_cli(
        capsys,
        "index",
        "--labels",
        labels,
        "--examples",
        train,
        "--shots",
        "2",
        "--fit",
        "--max-pairs",
        "32",
        "--head",
        "logistic",
        "--out",
        store,
    )
    assert code == 0, err
    assert "fitted on 12 examples (32 pairs)" in out and "held out" in out
    assert "OOS threshold" in out and (store / "head.safetensors").is_file()

    text = "what is the balance on my savings"
    code, out, _ = run_cli(capsys, "classify", "--store", store, text, "--json")
    row = json.loads(out)
    assert code == 0 and row["label"] == "balance" and row["threshold_method"] == "default"
    assert 0.0 < row["score"] <= 1.0 and row["oos_score"] != row["score"]  # head probability
    code, out, _ = run_cli(capsys, "classify", "--store", store, text)  # the table says both
    flag = "no" if row["in_scope"] else "yes"
    assert code == 0 and f"{flag} ({row['oos_score']:.3f})" in out

    code, out, _ = run_cli(capsys, "store", "info", store)
    assert code == 0 and "fitted: 12 examples of 6 labels, 32 pairs" in out
    assert "logistic head" in out and "dev (" in out and "AUROC" in out

    more = tmp_path / "more.yaml"
    weather = {"label": "weather", "descriptions": ["The user asks about the forecast."]}
    more.write_text(yaml.safe_dump({"labels": [weather]}))
    code, out, err = run_cli(capsys, "store", "add", store, "--descriptions", more)
    assert code == 0 and "refitting would help" in out, err
    loaded = LabelStore.load(store)
    assert loaded.head is None and loaded.fitted  # the head did not know the new label
    new_name = loaded.vectors.name_vectors()[-1]
    np.testing.assert_allclose(new_name, loaded.embedder.encode(["weather"])[0], atol=1e-5)
    assert loaded.embedder.fitted
    assert not np.allclose(new_name, Embedder().encode(["weather"])[0], atol=1e-3)

    code, _, err = run_cli(capsys, "store", "fit", store, "--examples", train, "--head", "svm")
    assert code == 2 and "nearest or logistic" in err

    # every labelled row becomes an example: nothing is held out, the fit still runs
    tiny = tmp_path / "tiny.csv"
    few = [f'"{t}",{g}' for g, texts in clinc["train"].items() for t in texts[:2]]
    tiny.write_text("\n".join(["text,label", *few, *rows[-3:]]) + "\n")  # + 3 oos rows
    code, out, err = run_cli(
        capsys, "store", "fit", store, "--examples", tiny, "--shots", "2", "--max-pairs", "16"
    )
    assert code == 0 and "fitted on" in out and "held out" not in out, err
