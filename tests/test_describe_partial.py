"""Partial results are the default: a label that fails validation stays name-only, with one
warning naming every failed label; ``strict`` raises. API and CLI, against a scripted server."""

import logging

import pytest
from conftest import chat_reply, good_answer, requested_labels, run_cli

from labelsync import Descriptions
from labelsync.describe.cache import DescriptionCache
from labelsync.describe.describer import DescribeConfig, Describer, describe
from labelsync.errors import DescriptionError

LABELS = ["Complain", "Praise", "Ask for help", "Thank"]
BAD = {"Praise", "Thank"}  # the server never answers these two usefully


def _server(scripted_server):
    def script(req, i):
        label = requested_labels(req)[0]
        return chat_reply("Sure, happy to help!" if label in BAD else good_answer(req))

    return scripted_server(script)


def _options(server, **extra):
    return dict(backend="openai", model="scripted", base_url=server.url, guard=False, **extra)


def test_api_keeps_failed_labels_name_only_with_one_warning(scripted_server, tmp_path, caplog):
    server = _server(scripted_server)
    caplog.set_level(logging.INFO, logger="labelsync")
    result = describe(LABELS, **_options(server, max_retries=1))
    assert list(result) == LABELS
    assert len(result["Complain"]) == 3 and len(result["Ask for help"]) == 3
    for label in BAD:
        entry = result.entry(label)
        assert entry.descriptions == [] and "0 of 3 valid descriptions" in entry.extra["failed"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "2 of 4 labels failed and keep their name only (descriptions: [], the reason under "
        "'failed'): Praise, Thank"  # in label order, whatever order the answers came in
    ]
    assert len(DescriptionCache(tmp_path / "cache")) == 2  # failed labels are never cached
    describer = Describer(DescribeConfig(**_options(server, max_retries=1)))
    again, failures = describer.run(LABELS)  # Describer.run: the same policy
    assert [f.label for f in failures] == ["Praise", "Thank"] and again["Praise"] == []


def test_api_strict_raises_and_allow_partial_is_a_no_op(scripted_server, tmp_path):
    server = _server(scripted_server)
    with pytest.raises(DescriptionError) as info:
        describe(LABELS, **_options(server, max_retries=0, strict=True))
    message = str(info.value)
    assert message.startswith("label 'Praise' failed: 0 of 3") and "(and 1 more labels)" in message
    assert len(DescriptionCache(tmp_path / "cache")) == 2  # the good labels are kept
    result = describe(LABELS, **_options(server, max_retries=0, allow_partial=True))
    assert result["Thank"] == [] and "allow_partial" not in DescribeConfig().to_dict()


def test_cli_default_is_partial_and_strict_exits_1(scripted_server, tmp_path, capsys):
    server = _server(scripted_server)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    out = tmp_path / "d.yaml"
    args = ["describe", "--labels", labels, "--backend", "openai", "--model", "scripted"]
    args += ["--base-url", server.url, "--no-guard", "--max-retries", "0", "--out", out]
    code, _, err = run_cli(capsys, *args)
    assert code == 0
    assert err.count("labels failed") == 1 and "Praise, Thank" in " ".join(err.split())
    written = Descriptions.from_yaml(out)
    assert list(written) == LABELS and written["Praise"] == [] and written["Thank"] == []
    assert "0 of 3" in written.entry("Thank").extra["failed"]

    code, _, err = run_cli(capsys, *args, "--strict")
    err = err.strip()  # a transient progress bar leaves an empty line
    assert code == 1 and err.startswith("error: label 'Praise' failed") and "\n" not in err
    code, _, err = run_cli(capsys, *args, "--allow-partial")  # the old flag: accepted, no-op
    assert code == 0 and err.count("labels failed") == 1
    _, help_text, _ = run_cli(capsys, "describe", "--help")
    assert "--strict" in help_text and "--allow-partial" not in help_text
