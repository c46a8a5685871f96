"""The openai backend against a scripted OpenAI-compatible server on 127.0.0.1 (real HTTP)."""

import json
import logging

import pytest
from conftest import chat_reply, good_answer, grep_tree, requested_labels

from labelsync import Descriptions, describe
from labelsync.cli import main
from labelsync.describe.cache import DescriptionCache
from labelsync.errors import BackendError, DescriptionError

SECRET = "sk-test-SECRET-0123456789abcdef"
LABELS = ["Complain", "Praise", "Ask for help"]


def run(server, labels=LABELS, **options):
    options.setdefault("guard", False)
    return describe(labels, backend="openai", model="scripted", base_url=server.url, **options)


def test_describes_every_label_and_caches(scripted_server, tmp_path):
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    result = run(server)
    assert list(result) == LABELS
    assert all(len(result[label]) == 3 for label in LABELS)
    assert result.entry("Complain").source == "llm"
    assert len(server.requests) == 3
    assert len(DescriptionCache(tmp_path / "cache")) == 3
    # the second run is served from the cache: no request reaches the server
    again = run(server)
    assert len(server.requests) == 3
    assert again.to_dict() == result.to_dict()


def test_several_labels_per_request_are_parsed_back(scripted_server):
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    result = run(server, labels_per_request=2)
    assert len(server.requests) == 2
    groups = sorted(requested_labels(r) for r in server.requests)  # concurrent: any order
    assert groups == [["Ask for help"], ["Complain", "Praise"]]
    assert (
        result["Ask for help"][0] == "The speaker clearly means ask for help in this first sense."
    )


def test_multi_label_retry_asks_only_for_the_failed_label(scripted_server):
    def script(req, i):
        labels = requested_labels(req)
        if i == 1:  # the first answer forgets the second label
            return chat_reply(good_answer({"messages": [{"content": f"Label: {labels[0]}"}]}))
        return chat_reply(good_answer(req))

    server = scripted_server(script)
    result = run(server, labels=["Complain", "Praise"], labels_per_request=2)
    assert requested_labels(server.requests[1]) == ["Praise"]
    assert set(result) == {"Complain", "Praise"}


def test_429_with_retry_after_is_honoured(scripted_server):
    def script(req, i):
        if i == 1:
            return 429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}
        return chat_reply(good_answer(req))

    server = scripted_server(script)
    result = run(server, labels=["Complain"])
    assert len(result["Complain"]) == 3
    assert len(server.requests) == 2
    assert server.times[1] - server.times[0] >= 0.95


def test_500_is_retried_then_gives_up_with_one_line(scripted_server):
    server = scripted_server(lambda req, i: (500, {}, {"error": {"message": "boom"}}))
    with pytest.raises(BackendError) as info:
        run(server, labels=["Complain"], retries=2)
    assert len(server.requests) == 3  # first try + 2 retries
    assert "HTTP 500" in str(info.value) and server.url in str(info.value)


def test_malformed_answers_are_regenerated_then_fail_cleanly(scripted_server, tmp_path):
    answers = iter(["Sure! I can help with that.", "1. Complain\n2. complain\n3. ok"])

    def script(req, i):
        return chat_reply(next(answers, "no list here"))

    server = scripted_server(script)
    with pytest.raises(DescriptionError) as info:
        run(server, labels=["Complain"], max_retries=2, strict=True)
    message = str(info.value)
    assert "'Complain'" in message and "0 of 3" in message and "\n" not in message
    assert len(server.requests) == 3
    assert len(DescriptionCache(tmp_path / "cache")) == 0  # never store junk


def test_allow_partial_keeps_the_good_labels(scripted_server):
    def script(req, i):
        label = requested_labels(req)[0]
        return chat_reply("nothing useful" if label == "Praise" else good_answer(req))

    server = scripted_server(script)
    result = run(server, allow_partial=True, max_retries=1)
    assert list(result) == LABELS
    assert result["Praise"] == [] and "0 of 3" in result.entry("Praise").extra["failed"]
    assert len(result["Complain"]) == 3


def test_slow_server_times_out_with_the_url(scripted_server):
    import time

    def script(req, i):
        time.sleep(1.5)
        return chat_reply(good_answer(req))

    server = scripted_server(script)
    with pytest.raises(BackendError, match="did not answer within 0.5s"):
        run(server, labels=["Complain"], timeout=0.5, retries=0)


def test_unreachable_server_names_the_url():
    with pytest.raises(BackendError) as info:
        describe(
            ["Complain"], backend="openai", model="m", base_url="http://127.0.0.1:9/v1", retries=0
        )
    assert "http://127.0.0.1:9/v1" in str(info.value)


def test_401_never_shows_the_key(scripted_server, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    def script(req, i):
        return 401, {}, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}

    server = scripted_server(script)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendError) as info:
        run(server, labels=["Complain"])
    assert "401" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in caplog.text
    headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert headers["authorization"] == f"Bearer {SECRET}"


def test_key_never_reaches_cache_output_or_logs(scripted_server, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    out = tmp_path / "d.yaml"
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    args = ["--debug", "describe", "--labels", str(labels), "--backend", "openai"]
    args += ["--model", "scripted", "--base-url", server.url, "--out", str(out), "--no-guard"]
    main_exit(args)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert grep_tree(tmp_path, SECRET) == []
    assert set(Descriptions.from_yaml(out)) == set(LABELS)


def test_dry_run_sends_nothing(scripted_server, capsys):
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    args = ["describe", "--labels", "mintrec", "--backend", "openai", "--model", "scripted"]
    main_exit(args + ["--base-url", server.url, "--dry-run", "--labels-per-request", "5"])
    out = capsys.readouterr().out
    assert server.requests == []
    assert "20 labels to generate" in out and "4 requests" in out
    assert "output budget 2800 tokens" in out


def test_plan_sorts_labels_by_source_and_sends_nothing(scripted_server, tmp_path):
    from labelsync.describe.describer import DescribeConfig, Describer

    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    run(server, labels=["Complain"])  # now cached
    reviewed = tmp_path / "reviewed.yaml"
    reviewed.write_text("labels:\n  - label: praise\n    descriptions: [The speaker admires it.]\n")
    options = dict(backend="openai", model="scripted", base_url=server.url, labels_per_request=2)
    describer = Describer(DescribeConfig(**options))
    plan = describer.plan(LABELS + ["Thank", "Greet"], Descriptions.from_yaml(reviewed))
    assert (plan.labels, plan.cached, plan.reviewed) == (
        ["Ask for help", "Thank", "Greet"],
        ["Complain"],
        ["Praise"],
    )
    asked = [
        requested_labels({"messages": [{"content": r.prompt.as_text()}]}) for r in plan.requests
    ]
    assert asked == [["Ask for help", "Thank"], ["Greet"]]
    assert len(plan.requests) == 2 and plan.output_budget == 3 * (40 * 3 + 20)
    assert plan.prompt_tokens > 50 * len(plan.requests)  # the A-MESS prompt is ~100 tokens
    assert len(server.requests) == 1  # the plan sent nothing
    fresh = Describer(DescribeConfig(**options, refresh=True)).plan(LABELS)
    assert fresh.cached == [] and fresh.labels == LABELS


def test_corrupt_cache_record_is_reported_and_regenerated(scripted_server, tmp_path, caplog):
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    run(server, labels=["Complain"])
    (record,) = (tmp_path / "cache" / "descriptions").glob("*/*.json")
    record.write_text('{"key": "truncated')
    caplog.set_level(logging.WARNING)
    result = run(server, labels=["Complain"])
    assert "corrupt cache record" in caplog.text
    assert len(server.requests) == 2 and len(result["Complain"]) == 3
    assert json.loads(record.read_text())["descriptions"] == result["Complain"]


def test_reviewed_file_is_used_as_is_and_only_missing_labels_are_generated(
    scripted_server, tmp_path
):
    reviewed = tmp_path / "reviewed.yaml"
    reviewed.write_text(
        "labels:\n  - label: praise\n    descriptions: [The speaker admires someone's work.]\n"
    )
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    result = run(server, reviewed=reviewed)
    assert result["Praise"] == ["The speaker admires someone's work."]
    assert result.entry("Praise").source == "user"
    assert sorted(label for r in server.requests for label in requested_labels(r)) == [
        "Ask for help",
        "Complain",
    ]


def main_exit(args):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"exit {exc.code}"


def test_training_examples_ground_the_prompt_and_the_cache_key(scripted_server):
    server = scripted_server(lambda req, i: chat_reply(good_answer(req)))
    examples = {"Complain": ["my order came late again"], "Praise": ["great job on this"]}
    run(server, labels=["Complain", "Praise"], labels_per_request=2)
    run(server, labels=["Complain", "Praise"], labels_per_request=2, examples=examples)
    assert len(server.requests) == 2  # other prompt text: a cache miss, a new request
    last = server.requests[1]["messages"][-1]["content"]
    assert last.endswith(
        'Example utterances of these intents:\nComplain: "my order came late again"\n'
        'Praise: "great job on this"'
    )


def test_missing_key_for_api_openai_com_is_one_line_but_dry_run_needs_none(capsys):
    with pytest.raises(BackendError, match="needs OPENAI_API_KEY"):
        describe(["Complain"], backend="openai", model="gpt-4o-mini")
    main_exit(
        ["describe", "--labels", "mintrec", "--backend", "openai", "--model", "x", "--dry-run"]
    )
    assert "20 labels to generate" in capsys.readouterr().out


def test_concurrent_requests_overlap_and_throughput_is_reported(scripted_server, capsys, tmp_path):
    import threading
    import time

    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def script(req, i):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)  # long enough for the other workers to send theirs
        with lock:
            state["now"] -= 1
        return chat_reply(good_answer(req), prompt_tokens=30, completion_tokens=50)

    server = scripted_server(script)
    labels = tmp_path / "labels.txt"
    labels.write_text("Complain\nPraise\nApologise\nThank\nCriticize\nAgree\n")
    args = ["describe", "--labels", str(labels), "--backend", "openai", "--model", "x"]
    main_exit(args + ["--base-url", server.url, "--no-guard", "--concurrency", "3"])
    err = capsys.readouterr().err
    assert len(server.requests) == 6
    assert state["most"] == 3  # three in flight at once, never more
    assert "6 requests, 300 completion tokens:" in err and "req/s" in err
