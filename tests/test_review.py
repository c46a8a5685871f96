"""The review page's API (``labelsync review``) over real HTTP with a real MiniLM: confusable
pairs, dev accuracy after an edit (re-embedding only what changed), try a sentence, regenerate
through an OpenAI-compatible server, and the compare-and-swap save with its ``.bak``."""

from __future__ import annotations

import copy

import httpx2
import pytest
import yaml
from conftest import chat_reply, good_answer, run_cli
from serve_helpers import FIX, REVIEW_LABELS, ServerThread, write_review_files

from labelsync.serve.app import create_app
from labelsync.serve.config import ServeConfig
from labelsync.serve.review.session import ReviewOptions, ReviewSession


@pytest.fixture
def review(tmp_path, scripted_server):
    descriptions, dev = write_review_files(tmp_path)
    llm = scripted_server(lambda request, number: chat_reply(good_answer(request)))
    options = ReviewOptions(descriptions=descriptions, data=dev, backend="openai",
                            model="scripted", base_url=llm.url)  # fmt: skip
    session = ReviewSession(options)
    app = create_app(ServeConfig(), review=session)
    with ServerThread(app) as server:
        headers = {"X-Review-Token": session.token}
        with httpx2.Client(base_url=server.url, headers=headers, timeout=60) as http:
            yield http, descriptions, llm


def working(labels):
    return [{"label": r["label"], "descriptions": list(r["descriptions"])} for r in labels]


def test_page_token_and_host_checks(review):
    http, _, _ = review
    page = http.get("/review/")
    token = http.headers["X-Review-Token"]
    assert page.status_code == 200 and f'content="{token}"' in page.text
    assert http.get("/").status_code in (200, 307)  # / leads to the page
    assert http.get("/review/static/review.js").status_code == 200
    assert http.get("/review/static/../app.py").status_code == 404
    no_token = httpx2.get(str(http.base_url).rstrip("/") + "/review/api/document")
    assert no_token.status_code == 403 and "review token" in no_token.text
    rebound = http.get("/review/api/document", headers={"Host": "evil.example"})
    assert rebound.status_code == 400  # a DNS-rebound page cannot reach a loopback review


def test_confusable_pairs_dev_accuracy_and_try(review):
    http, _, _ = review
    document = http.get("/review/api/document").json()
    assert [r["label"] for r in document["labels"]] == [r["label"] for r in REVIEW_LABELS]
    assert document["dev_rows"] == 6 and document["embedder"] == "all-MiniLM-L6-v2"

    labels = working(document["labels"])
    report = http.post("/review/api/evaluate", json={"labels": labels}).json()
    pairs = report["confusable"]
    assert (pairs[0]["a"], pairs[0]["b"]) == ("book_flight", "reserve_ticket")
    assert pairs[0]["b_text"] == "The user wants to book a plane ticket for a trip."
    assert [p["score"] for p in pairs] == sorted((p["score"] for p in pairs), reverse=True)
    assert len(pairs) == 6  # every pair of 4 labels
    assert report["encoded"] == 12  # 4 names + 8 descriptions
    dev = report["dev"]
    assert (dev["rows"], dev["correct"], dev["out_of_scope_rows"]) == (6, 5, 1)
    (wrong,) = dev["misclassified"]
    assert wrong["gold"] == "book_flight" and wrong["predicted"] == "reserve_ticket"

    label, slot, text = FIX
    labels[0]["descriptions"][slot] = text
    report = http.post("/review/api/evaluate", json={"labels": labels}).json()
    assert report["encoded"] == 1  # only the edited description was embedded
    assert report["dev"]["accuracy"] == 1.0 and report["dev"]["misclassified"] == []
    assert report["sources"] == {"book_flight": "reviewed", "reserve_ticket": "llm",
                                 "weather": "llm", "alarm": "reviewed"}  # fmt: skip

    tried = http.post("/review/api/try", json={"labels": labels, "text": "will it snow"}).json()
    assert tried["label"] == "weather" and len(tried["top_k"]) == 3

    duplicate = copy.deepcopy(labels)
    duplicate[0]["descriptions"][1] = duplicate[0]["descriptions"][0]
    answer = http.post("/review/api/evaluate", json={"labels": duplicate})
    assert answer.status_code == 422 and "repeats an earlier one" in answer.json()["detail"]


def test_save_regenerate_and_a_stale_second_tab(review):
    http, path, llm = review
    original = path.read_bytes()
    first_tab = http.get("/review/api/document").json()
    second_tab = http.get("/review/api/document").json()

    labels = working(first_tab["labels"])
    labels[2]["descriptions"][0] = "The user asks whether it will rain."  # weather, edited
    regenerated = http.post("/review/api/regenerate", json={"label": "alarm", "n": 3}).json()
    assert len(llm.requests) >= 1 and regenerated["source"] == "llm"
    scripted = good_answer({"messages": [{"content": "Label: alarm"}]}).splitlines()[1:]
    assert sorted(regenerated["descriptions"]) == sorted(line[3:] for line in scripted)
    labels[3]["descriptions"] = regenerated["descriptions"]
    labels.append({"label": "play_music", "descriptions": ["The user wants to hear a song."]})
    del labels[1]  # reserve_ticket deleted

    saved = http.post("/review/api/save", json={"version": first_tab["version"], "labels": labels})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] != first_tab["version"]
    assert (path.parent / "descriptions.yaml.bak").read_bytes() == original
    records = {r["label"]: r for r in yaml.safe_load(path.read_text())["labels"]}
    assert list(records) == ["book_flight", "weather", "alarm", "play_music"]
    kept = {k: v for k, v in records["book_flight"].items() if v is not None}
    assert kept == REVIEW_LABELS[0]  # untouched: the record is kept as it was
    assert records["weather"]["source"] == "reviewed"
    assert records["weather"]["descriptions"][0] == "The user asks whether it will rain."
    assert records["alarm"]["source"] == "llm" and records["alarm"]["model"] == "scripted"
    assert records["play_music"]["source"] == "user"

    after_first = path.read_bytes()
    stale = http.post(
        "/review/api/save",
        json={"version": second_tab["version"], "labels": working(second_tab["labels"])},
    )
    assert stale.status_code == 409 and "saved elsewhere" in stale.json()["detail"]
    assert path.read_bytes() == after_first  # nothing lost

    reloaded = http.get("/review/api/document").json()
    assert reloaded["version"] == saved.json()["version"]


def test_review_command_refuses_a_broken_file(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("labels:\n  - label: a\n    descriptions: [x, x]\n")
    code, _, err = run_cli(capsys, "review", broken)
    assert code == 1 and "description 2 repeats an earlier one" in err
