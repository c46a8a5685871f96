"""LabelStore with the real all-MiniLM-L6-v2 and real FAISS: scoring, files, bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labelsync.errors import LabelsyncError
from labelsync.offline import installed_offline_models, join_split_zip
from labelsync.store import Embedder, LabelStore, ood_metrics, scoring, threshold_at_tpr
from labelsync.store import index as faiss_index
from labelsync.store.scoring import vector_id

CLINC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clinc150"
needs_clinc = pytest.mark.skipif(
    not (CLINC / "data_full.json").is_file(),
    reason=f"CLINC150 not found at {CLINC} (the shared data folder is absent)",
)

# Our own one-sentence descriptions of a few CLINC150 intents.
DESCRIPTIONS = {
    "book_flight": [
        "The user wants to book a plane ticket.",
        "The user asks to reserve a seat on a flight to a city.",
    ],
    "weather": [
        "The user asks what the weather will be like.",
        "The user wants the forecast, such as rain or temperature.",
    ],
    "transfer": [
        "The user wants to move money from one account to another.",
        "The user asks to send funds to a person or account.",
    ],
    "alarm": [
        "The user wants to set an alarm for a time.",
        "The user asks to be woken up at a certain hour.",
    ],
    "translate": [
        "The user asks how to say a word or phrase in another language.",
        "The user wants a sentence translated into a foreign language.",
    ],
    "calories": [
        "The user asks how many calories a food has.",
        "The user wants nutrition facts about something they eat.",
    ],
}
TEXTS = ["get me a seat on a plane to denver", "is it going to snow today", "wake me at 6"]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()  # loaded once for the whole session


@pytest.fixture(scope="module")
def store(embedder) -> LabelStore:
    return LabelStore.build(DESCRIPTIONS, embedder=embedder)


def small(labels: list[str]) -> dict:
    return {name: DESCRIPTIONS[name] for name in labels}


def test_classify_paraphrases_and_search_hits_descriptions(store):
    predictions = store.classify(TEXTS, top_k=2)
    assert [p.label for p in predictions] == ["book_flight", "weather", "alarm"]
    assert all(p.top_k[0] == (p.label, p.score) and len(p.top_k) == 2 for p in predictions)
    assert all(p.top_k[0][1] >= p.top_k[1][1] for p in predictions)
    assert all(p.in_scope and p.threshold == store.threshold for p in predictions)  # default
    # a paraphrase of a description finds that description first
    hits = store.search(["the user wants to know how to say a phrase in another language"], k=3)[0]
    assert (hits[0].label, hits[0].kind) == ("translate", "description")
    assert hits[0].text == DESCRIPTIONS["translate"][0]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_scores_follow_the_documented_mix(store, embedder):
    query = embedder.encode(["how many calories in a banana"])
    name_only = store.score_vectors(query, name_weight=1.0)[0]
    desc_max = store.score_vectors(query, name_weight=0.0, aggregate="max")[0]
    desc_mean = store.score_vectors(query, name_weight=0.0, aggregate="mean")[0]
    row = store.labels.index("calories")
    texts = ["calories"] + [f"calories: {d}" for d in DESCRIPTIONS["calories"]]
    sims = embedder.encode(texts) @ query[0]
    np.testing.assert_allclose(
        [name_only[row], desc_max[row], desc_mean[row]],
        [sims[0], sims[1:].max(), sims[1:].mean()],
        atol=1e-5,
    )
    plain = LabelStore.build(small(["calories"]), embedder=embedder, template="{description}")
    plain_desc = plain.score_vectors(query, name_weight=0.0, aggregate="max")[0, 0]
    assert plain_desc == pytest.approx(
        float((embedder.encode(DESCRIPTIONS["calories"]) @ query[0]).max()), abs=1e-5
    )
    mixed = store.score_vectors(query, name_weight=0.3, aggregate="mean")[0]
    np.testing.assert_allclose(mixed, 0.3 * name_only + 0.7 * desc_mean, atol=1e-5)
    default = store.score_vectors(query)[0]  # defaults: "auto" (0.3 for user-given), max
    np.testing.assert_allclose(default, 0.3 * name_only + 0.7 * desc_max, atol=1e-5)


def test_auto_name_weight_follows_provenance_and_failed_labels_keep_their_name(embedder, tmp_path):
    from labelsync import Descriptions

    described = Descriptions.from_dict(
        {
            "labels": [
                {"label": "weather", "descriptions": DESCRIPTIONS["weather"], "source": "llm"},
                {"label": "alarm", "descriptions": DESCRIPTIONS["alarm"], "source": "reviewed"},
                {"label": "transfer", "descriptions": [], "source": "llm", "failed": "0 of 3"},
            ]
        }
    )
    store = LabelStore.build(described, embedder=embedder)
    np.testing.assert_allclose(store.label_name_weights(), [0.7, 0.3, 0.7], atol=1e-6)
    query = embedder.encode(["will it rain tomorrow", "send 20 dollars to my savings"])
    auto = store.score_vectors(query)
    for row, w in enumerate([0.7, 0.3]):
        np.testing.assert_allclose(
            auto[:, row],
            store.score_vectors(query, name_weight=w)[:, row],
            atol=1e-6,
        )
    name = embedder.encode(["transfer"]) @ query.T  # no descriptions: the name alone
    np.testing.assert_allclose(auto[:, 2], name[0], atol=1e-5)
    assert [p.label for p in store.classify(["send 20 dollars to my savings"])] == ["transfer"]
    loaded = LabelStore.load(store.save(tmp_path / "s"), embedder=embedder)
    np.testing.assert_allclose(loaded.score_vectors(query), auto, atol=1e-6)


def test_save_load_round_trip_gives_identical_scores(store, tmp_path):
    store.threshold = 0.25
    try:
        store.save(tmp_path / "s")
    finally:
        store.threshold = None
    loaded = LabelStore.load(tmp_path / "s")
    assert loaded.labels == store.labels and loaded.threshold == 0.25
    assert [e.descriptions for e in loaded.entries] == [e.descriptions for e in store.entries]
    assert np.array_equal(loaded.scores(TEXTS), store.scores(TEXTS))
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["embedder"] == "all-MiniLM-L6-v2" and meta["dimension"] == 384
    assert set(meta["sha256"]) == {"index.faiss", "labels.json"} and "faiss-cpu" in meta["versions"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temp dirs left behind


def test_add_and_remove_change_only_the_affected_label(embedder):
    store = LabelStore.build(small(["book_flight", "weather", "alarm"]), embedder=embedder)
    ids_before, vectors_before = faiss_index.vectors_of(store.index)
    before = store.scores(TEXTS)
    assert store.add(small(["transfer"])) == ["transfer"]
    after = store.scores(TEXTS)
    assert store.labels == ["book_flight", "weather", "alarm", "transfer"]
    np.testing.assert_allclose(after[:, :3], before, atol=1e-6)
    assert store.classify(["send 40 dollars to my brother's account"])[0].label == "transfer"
    ids, vectors = faiss_index.vectors_of(store.index)
    kept = np.isin(ids, ids_before)
    assert kept.sum() == len(ids_before) and (~kept).sum() == 3  # name + 2 descriptions
    order = np.argsort(ids[kept])
    np.testing.assert_array_equal(ids[kept][order], np.sort(ids_before))
    np.testing.assert_array_equal(vectors[kept][order], vectors_before[np.argsort(ids_before)])

    store.remove("Weather")  # any spelling of the name
    assert store.labels == ["book_flight", "alarm", "transfer"]
    assert store.num_vectors == len(ids_before)  # 3 vectors out, 3 in
    np.testing.assert_allclose(store.scores(TEXTS), after[:, [0, 2, 3]], atol=1e-6)
    with pytest.raises(LabelsyncError, match="already in the store"):
        store.add(small(["alarm"]))
    store.add({"alarm": ["The user wants to cancel every alarm."]}, replace=True)
    assert store.entry("alarm").descriptions == ["The user wants to cancel every alarm."]


def test_few_shot_examples_are_searched_and_scored(embedder):
    store = LabelStore.build(["weather", "transfer"], embedder=embedder)  # names only
    assert store.add_examples("transfer", ["wire 300 euros to my landlord"]) == 1
    assert store.add_examples("transfer", ["wire 300 euros to my landlord", " "]) == 0
    hit = store.search(["wire 200 euros to my landlord please"], k=1)[0][0]
    assert (hit.label, hit.kind, hit.text) == (
        "transfer",
        "example",
        "wire 300 euros to my landlord",
    )
    text = ["wire 200 euros to my landlord please"]
    with_examples = store.scores(text, example_weight=1.0)[0]
    without = store.scores(text, example_weight=0.0)[0]
    assert with_examples[1] > without[1] and with_examples[0] == pytest.approx(without[0])
    added = store.add_examples({"weather": ["is it sunny", "any rain today"], "transfer": []})
    assert added == 2 and store.entry("weather").examples == ["is it sunny", "any rain today"]
    assert store.num_vectors == 2 + 1 + 2


def test_description_matrix(store, embedder):
    matrix, mask = store.description_matrix(["Weather", "calories"])
    assert (
        tuple(matrix.shape) == (2, 2, 384) and str(mask.dtype) == "torch.bool" and bool(mask.all())
    )
    expected = embedder.encode([f"weather: {d}" for d in DESCRIPTIONS["weather"]])
    np.testing.assert_allclose(matrix[0].numpy(), expected, atol=1e-5)
    names_only = LabelStore.build(["weather", "transfer"], embedder=embedder)
    matrix, mask = names_only.description_matrix(include_name=True)
    assert tuple(matrix.shape) == (2, 1, 384) and bool(mask.all())
    with pytest.raises(LabelsyncError, match="unknown label 'nope'"):
        store.description_matrix(["nope"])


def test_hnsw_index_agrees_with_flat_and_supports_remove(store, embedder, tmp_path):
    hnsw = LabelStore.build(DESCRIPTIONS, embedder=embedder, index="hnsw")
    texts = TEXTS + ["how do you say thank you in french", "calories in an apple"]
    assert [p.label for p in hnsw.classify(texts)] == [p.label for p in store.classify(texts)]
    hnsw.remove("alarm")
    assert "alarm" not in hnsw and hnsw.num_vectors == store.num_vectors - 3
    hnsw.save(tmp_path / "h")
    loaded = LabelStore.load(tmp_path / "h")
    assert loaded.index_type == "hnsw" and loaded.labels == hnsw.labels


@needs_clinc
def test_out_of_scope_scores_lower_on_real_clinc(store):
    data = json.loads((CLINC / "data_full.json").read_text())
    in_scope = [t for t, label in data["test"] if label in DESCRIPTIONS][:60]
    oos = [t for t, _ in data["oos_test"][:60]]
    in_scores, oos_scores = store.scores(in_scope).max(1), store.scores(oos).max(1)
    assert in_scores.mean() > oos_scores.mean() + 0.1
    assert ood_metrics(in_scores, oos_scores)["auroc"] > 0.85
    result = store.calibrate(in_scope, oos, target_tpr=0.9)
    try:
        flags = [p.is_oos for p in store.classify(in_scope + oos)]
        assert np.mean(flags[:60]) <= 0.1 + 1e-9 and np.mean(flags[60:]) == pytest.approx(
            1 - result.fpr
        )
        assert result.fpr < 0.5 and store.calibration["auroc"] == pytest.approx(result.auroc)
    finally:
        store.threshold = None  # back to the default


def test_threshold_at_tpr_without_and_with_oos():
    in_scores = np.linspace(0.2, 0.9, 20)
    plain = threshold_at_tpr(in_scores, None, target_tpr=0.95)
    assert plain.threshold == pytest.approx(in_scores[0]) and plain.tpr == 1.0 and plain.fpr is None
    plain = threshold_at_tpr(in_scores, None, target_tpr=0.9)
    assert plain.threshold == pytest.approx(in_scores[1]) and plain.tpr == 0.95
    with_oos = threshold_at_tpr(in_scores, np.array([0.1, 0.25, 0.95]), target_tpr=0.9)
    assert with_oos.threshold == pytest.approx(in_scores[2]) and with_oos.tpr == 0.9
    assert with_oos.fpr == pytest.approx(1 / 3) and 0.5 < with_oos.auroc < 1.0
    assert ood_metrics(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == {"auroc": 1.0, "fpr95": 0.0}
    with pytest.raises(LabelsyncError, match="at least one in-scope"):
        threshold_at_tpr(np.array([]))


# -- files -------------------------------------------------------------------------------------
@pytest.fixture
def saved(store, tmp_path) -> Path:
    return store.save(tmp_path / "store")


@pytest.mark.parametrize("name", ["labels.json", "index.faiss"])
def test_edited_file_is_refused(saved, name):
    path = saved / name
    data = path.read_bytes()
    path.write_bytes(
        data.replace(b"plane ticket", b"train ticket") if name[0] == "l" else data + b"x"
    )
    with pytest.raises(LabelsyncError, match=f"{name} was changed after the store was saved"):
        LabelStore.load(saved)


@pytest.mark.parametrize("name", ["labels.json", "index.faiss", "meta.json"])
def test_missing_file_is_refused(saved, name):
    (saved / name).unlink()
    with pytest.raises(LabelsyncError, match=f"incomplete label store, {name} is missing"):
        LabelStore.load(saved)


def test_other_embedder_and_mismatched_dimensions_are_refused(saved, store):
    with pytest.raises(LabelsyncError, match="built with embedder 'all-MiniLM-L6-v2', not 'other"):
        LabelStore.load(saved, embedder="other/model")
    meta = json.loads((saved / "meta.json").read_text())
    (saved / "meta.json").write_text(json.dumps({**meta, "dimension": 768}))
    with pytest.raises(LabelsyncError, match="mismatched dimensions: index.faiss holds 384-d"):
        LabelStore.load(saved)
    with pytest.raises(LabelsyncError, match="mismatched dimensions"):
        faiss_index.add(store.index, np.zeros((1, 768), np.float32), np.array([1 << 40]))


def test_save_replaces_a_store_but_not_other_folders(store, tmp_path):
    target = store.save(tmp_path / "s")
    smaller = LabelStore.build(small(["alarm"]), embedder=store.embedder)
    smaller.save(target)
    assert LabelStore.load(target).labels == ["alarm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(LabelsyncError, match="is not a label store; refusing"):
        store.save(other)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input_is_one_line_errors(store, embedder, tmp_path):
    cases = [
        (lambda: LabelStore.build({}, embedder=embedder), "no labels to build a store"),
        (lambda: LabelStore.build({"a": []}, embedder=embedder), "label 'a' has no descriptions"),
        (lambda: store.remove("wether"), "unknown label 'wether'.*did you mean 'weather'"),
        (lambda: store.classify([]), "no text to classify"),
        (lambda: store.classify(["  "]), "no text to classify"),
        (lambda: store.classify(TEXTS, aggregate="median"), "aggregate must be one of"),
        (lambda: LabelStore.load(tmp_path / "absent"), "label store not found"),
        (lambda: LabelStore(embedder, index="ivf"), "unknown index type 'ivf'"),
        (lambda: LabelStore(embedder, template="{label}: {description}"), "no other field"),
        (lambda: LabelStore(embedder, name_weight=1.5), "name_weight must be between 0 and 1"),
    ]
    for call, message in cases:
        with pytest.raises(LabelsyncError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
    assert store.labels == list(DESCRIPTIONS)  # nothing changed


def test_mpnet_without_its_extra_is_a_clear_error(monkeypatch, tmp_path):
    import labelsync.offline as offline

    # as if the part packages were not installed (make install does install them)
    monkeypatch.setattr(offline, "_MPNET_PARTS", ["labelsync-no-such-package-001"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # and nothing joined in the cache yet
    assert "all-mpnet-base-v2" not in installed_offline_models()
    with pytest.raises(LabelsyncError) as info:
        Embedder("mpnet")
    message = str(info.value)
    assert "[mpnet]" in message and "pip install" in message and "\n" not in message


def test_join_split_zip_rebuilds_a_model_folder(tmp_path):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/modules.json", "[]")
        zf.writestr("all-mpnet-base-v2/config.json", "{}" * 500)
    data = archive.read_bytes()
    parts = []
    for number, start in enumerate(range(0, len(data), 300), start=1):
        part = tmp_path / f"all-mpnet-base-v2.zip.{number:03d}"
        part.write_bytes(data[start : start + 300])
        parts.append(part)
    assert len(parts) > 2
    root = join_split_zip(parts, tmp_path / "cache" / "mpnet")
    assert root == tmp_path / "cache" / "mpnet" / "all-mpnet-base-v2"
    assert (root / "config.json").read_text() == "{}" * 500
    with pytest.raises(LabelsyncError, match="do not form a zip archive"):
        join_split_zip(parts[1:], tmp_path / "cache" / "broken")
    assert not (tmp_path / "cache" / "broken").exists()


def test_dense_scores_fill_unretrieved_vectors_with_the_floor():
    sorted_ids = np.array([vector_id(0, 0, 0), vector_id(0, 1, 0), vector_id(1, 0, 0)])
    scores = np.array([[0.9, 0.5], [0.7, -1.0]], dtype=np.float32)
    ids = np.array([[sorted_ids[2], sorted_ids[0]], [sorted_ids[1], -1]])
    np.testing.assert_allclose(
        scoring.dense(scores, ids, sorted_ids), [[0.5, 0.5, 0.9], [0.7, 0.7, 0.7]]
    )
    layout = scoring.layout(sorted_ids[::-1], np.array([0, 1]))
    assert list(layout["desc_counts"]) == [1, 0] and list(layout["name_col"]) == [0, 2]
    combined = scoring.combine(np.array([[0.2, 0.6, 0.4]]), layout, "max", 0.25, 0.5)
    np.testing.assert_allclose(combined, [[0.25 * 0.2 + 0.75 * 0.6, 0.4]])


def test_index_helpers_remove_ranges_and_recall():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for kind in faiss_index.INDEX_KINDS:
        index = faiss_index.new_index(8, kind)
        faiss_index.add(index, vectors, np.arange(50) * 10)
        index = faiss_index.remove_range(index, 100, 200)
        assert faiss_index.index_kind(index) == kind
        assert sorted(faiss_index.ids_of(index)) == [i * 10 for i in range(50) if not 10 <= i < 20]
        scores, ids = faiss_index.search(index, vectors[:5], 1)
        assert list(ids[:, 0]) == [0, 10, 20, 30, 40] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert faiss_index.recall_at_1(np.array([[1, 2], [3, 4]]), np.array([[1, 9], [5, 4]])) == 0.5
