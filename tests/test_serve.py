"""``labelsync serve`` on a label store: a real uvicorn server on 127.0.0.1 talking HTTP to a real
MiniLM store. Batching, the 503 path, bad input, the body limit, the API key, reload and a
graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import shutil
import socket
import threading
import time

import httpx2
import pytest
from serve_helpers import DESCRIPTIONS, MORE, ServerThread, metric, wait_for

from labelsync import Client
from labelsync.client import ServerError
from labelsync.serve.app import create_app
from labelsync.serve.config import ServeConfig
from labelsync.store import Embedder, LabelStore


@pytest.fixture(scope="module", autouse=True)
def _embedder() -> Embedder:
    return Embedder()  # loaded once; the servers in this process share it


@pytest.fixture
def store_dir(tmp_path):
    folder = tmp_path / "store"
    LabelStore.build(DESCRIPTIONS).save(folder)
    return folder


def serve(store_dir, log_level="warning", **options):
    app = create_app(ServeConfig(path=str(store_dir), **options))
    return app, ServerThread(app, log_level=log_level, access_log=options.get("access_log", False))


def test_classify_labels_health_docs_and_metrics(store_dir):
    texts = ["book me a flight to rome", "will it rain tomorrow", "wake me up at seven"]
    expected = LabelStore.load(store_dir).classify(texts, top_k=2)
    app, server = serve(store_dir)
    with server, httpx2.Client(base_url=server.url) as http:
        answer = http.post("/v1/classify", json={"texts": texts, "top_k": 2})
        assert answer.status_code == 200
        got = answer.json()["predictions"]
        assert [p["label"] for p in got] == ["book_flight", "weather", "alarm"]
        assert got == [p.to_dict() for p in expected]  # the same numbers as the store itself
        # every store has an out-of-scope threshold (its default when not calibrated)
        assert all(isinstance(p["in_scope"], bool) and len(p["top_k"]) == 2 for p in got)

        labels = http.get("/v1/labels").json()["labels"]
        assert [entry["label"] for entry in labels] == list(DESCRIPTIONS)
        assert labels[0]["descriptions"] == DESCRIPTIONS["book_flight"]
        health = http.get("/healthz").json()
        assert health["status"] == "ok" and health["kind"] == "store" and health["labels"] == 3
        expected_threshold = LabelStore.load(store_dir).threshold_info
        assert health["threshold"]["threshold_method"] == "default"
        assert health["threshold"]["describe"] == expected_threshold.describe()
        docs = http.get("/docs")
        assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # works offline
        assert http.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/v1/classify", "/v1/labels", "/v1/reload", "/healthz", "/metrics"} <= set(paths)
        wrong = http.post("/v1/predict", json={"texts": ["x"]})
        assert wrong.status_code == 404 and "use POST /v1/classify" in wrong.json()["detail"]

        with Client(server.url) as client:
            (prediction,) = client.classify("book me a flight to rome", top_k=2)
        assert prediction.to_dict() == expected[0].to_dict()  # (scores rounded on the wire)

        metrics = http.get("/metrics").text
    route = 'labelsync_requests_total{method="POST",route="/v1/classify",status="200"}'
    assert metric(metrics, route) == 2
    assert metric(metrics, "labelsync_batch_size_count") == 2
    assert metric(metrics, "labelsync_batch_size_sum") == 4  # 3 texts, then 1
    assert metric(metrics, 'labelsync_request_seconds_count{route="/v1/classify"}') == 2


def test_concurrent_requests_share_a_forward_pass(store_dir):
    texts = [f"please book a flight number {i} to rome" for i in range(8)]
    expected = [p.to_dict() for p in LabelStore.load(store_dir).classify(texts)]
    app, server = serve(store_dir, max_wait_ms=200)
    with server, httpx2.Client(base_url=server.url) as http:
        release = server.block_batches(app)  # the 8 requests queue up behind this

        def one(text):
            return http.post("/v1/classify", json={"texts": [text]}).json()["predictions"][0]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(one, t) for t in texts]
            wait_for(lambda: app.state.labelsync.batcher.pending == 8)
            release.set()
            got = [f.result(timeout=30) for f in futures]
        metrics = http.get("/metrics").text
    assert got == expected  # batched answers equal one-by-one answers
    # all 8 requests went through one forward pass of 8 texts
    assert metric(metrics, "labelsync_batch_size_count") == 1
    assert metric(metrics, "labelsync_batch_size_sum") == 8
    assert metric(metrics, 'labelsync_batch_size_bucket{le="4.0"}') == 0


def test_full_queue_answers_503_with_retry_after_and_recovers(store_dir):
    app, server = serve(store_dir, max_batch_size=2, max_queue=2)
    with server, httpx2.Client(base_url=server.url, timeout=30) as http:
        release = server.block_batches(app)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            waiting = [
                pool.submit(http.post, "/v1/classify", json={"texts": ["book a flight"]})
                for _ in range(2)
            ]
            wait_for(lambda: app.state.labelsync.batcher.pending == 2)
            refused = http.post("/v1/classify", json={"texts": ["will it rain"]})
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "server busy" in refused.json()["detail"]
            release.set()
            assert [f.result(timeout=30).status_code for f in waiting] == [200, 200]
        assert http.post("/v1/classify", json={"texts": ["will it rain"]}).status_code == 200
        metrics = http.get("/metrics").text
    assert metric(metrics, "labelsync_rejected_total") == 1
    assert metric(metrics, "labelsync_pending_inputs") == 0


BAD_INPUTS = [
    ({"text": ["x"]}, "texts: Field required"),
    ({"texts": []}, "texts: give at least one text"),
    ({"texts": ["ok", "  "]}, "texts[1]: empty text"),
    ({"texts": ["x" * 2001]}, "texts[0]: 2001 characters, over the limit of 2000"),
    ({"texts": ["a"] * 5}, "texts: 5 texts, over the maximum batch of 4"),
    ({"texts": ["a"], "top_k": 0}, "top_k: must be between 1 and 50, got 0"),
    ({"texts": "a"}, "texts: Input should be a valid list"),
    ({"texts": [3]}, "texts.0: Input should be a valid string"),
]


def test_bad_input_gets_a_one_line_422_and_big_bodies_413(store_dir):
    app, server = serve(store_dir, max_batch_size=4, max_queue=8, max_body_bytes=50_000)
    with server, httpx2.Client(base_url=server.url) as http:
        for body, message in BAD_INPUTS:
            answer = http.post("/v1/classify", json=body)
            assert answer.status_code == 422, body
            assert answer.json() == {"detail": message}
        broken = http.post("/v1/classify", content=b'{"texts": [', headers=JSON)
        assert broken.status_code == 422 and "invalid JSON body" in broken.json()["detail"]
        plain = http.post("/v1/classify", content=b'{"texts": ["a"]}')
        assert plain.status_code == 422 and "Content-Type: application/json" in plain.text
        big = http.post("/v1/classify", json={"texts": ["word " * 20_000]})
        assert big.status_code == 413 and "Content Too Large" in big.text
        assert http.post("/v1/classify", json={"texts": ["fine"]}).status_code == 200
    # a body announced as 50 MB is refused from its headers, without waiting for the bytes
    with server_again(app) as url, socket.create_connection(("127.0.0.1", url[1]), 5) as sock:
        sock.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nContent-Length: 50000000\r\n\r\n"
        )
        sock.settimeout(5)
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")


JSON = {"content-type": "application/json"}


class server_again:
    """The same app on a new port (for raw-socket checks)."""

    def __init__(self, app):
        self.server = ServerThread(app)

    def __enter__(self):
        self.server.__enter__()
        return self.server.url, self.server.port

    def __exit__(self, *exc):
        self.server.stop()


def test_api_key_is_required_compared_and_never_logged(store_dir, monkeypatch, caplog, capfd):
    key = "s3cret-key-ABC123"
    monkeypatch.setenv("LABELSYNC_TEST_KEY", key)
    caplog.set_level(logging.DEBUG)
    app, server = serve(store_dir, api_key_env="LABELSYNC_TEST_KEY", access_log=True,
                        log_level="debug")  # fmt: skip
    body = {"texts": ["book a flight"]}
    with server, httpx2.Client(base_url=server.url) as http:
        assert http.get("/healthz").status_code == 200  # open, for liveness probes
        assert http.get("/docs").status_code == 200  # and the API docs page with its assets
        assert http.get("/static-offline-docs/swagger-ui.css").status_code == 200
        none = http.post("/v1/classify", json=body)
        assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
        wrong = http.post("/v1/classify", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and key not in wrong.text
        assert http.get("/metrics").status_code == 401
        good = {"Authorization": f"Bearer {key}"}
        assert http.post("/v1/classify", json=body, headers=good).status_code == 200
        with pytest.raises(ServerError, match="401"):
            Client(server.url, api_key="nope").classify(["x"])
        monkeypatch.setenv("LABELSYNC_API_KEY", key)
        assert Client(server.url).classify(["x"])[0].label in DESCRIPTIONS
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert "POST /v1/classify" in logs and "401" in logs  # the access log ran
    assert key not in logs and key not in repr(app.user_middleware)
    monkeypatch.delenv("LABELSYNC_TEST_KEY")
    with pytest.raises(Exception, match="LABELSYNC_TEST_KEY: that environment variable"):
        create_app(ServeConfig(path=str(store_dir), api_key_env="LABELSYNC_TEST_KEY"))


def test_reload_picks_up_store_add_atomically(store_dir, tmp_path):
    app, server = serve(store_dir)
    question = {"texts": ["send 50 dollars to my savings account"], "top_k": 50}
    with server, httpx2.Client(base_url=server.url) as http:
        before = http.post("/v1/classify", json=question).json()["predictions"][0]
        assert len(before["top_k"]) == 3 and before["label"] != "transfer"
        store = LabelStore.load(store_dir)
        store.add(MORE)
        store.save(store_dir)  # what `labelsync store add` does
        assert len(http.post("/v1/classify", json=question).json()["predictions"][0]["top_k"]) == 3

        seen, stop = [], threading.Event()

        def hammer():  # every answer comes from the old store or the new one, never a mix
            while not stop.is_set():
                answer = http.post("/v1/classify", json=question)
                seen.append((answer.status_code, len(answer.json()["predictions"][0]["top_k"])))

        worker = threading.Thread(target=hammer)
        worker.start()
        time.sleep(0.2)
        reloaded = http.post("/v1/reload")
        time.sleep(0.2)
        stop.set()
        worker.join(30)
        assert reloaded.status_code == 200 and reloaded.json()["labels"] == 4
        assert seen and {status for status, _ in seen} == {200}
        assert {count for _, count in seen} <= {3, 4} and seen[-1][1] == 4
        after = http.post("/v1/classify", json=question).json()["predictions"][0]
        assert after["label"] == "transfer"

        # a broken folder is refused; the server keeps answering from what it has
        shutil.copy(store_dir / "labels.json", tmp_path / "labels.json")
        (store_dir / "labels.json").write_text(json.dumps({"labels": []}))
        failed = http.post("/v1/reload")
        assert failed.status_code == 409 and "still serving the previous version" in failed.text
        assert http.post("/v1/classify", json=question).json()["predictions"][0]["label"] == (
            "transfer"
        )


def test_graceful_shutdown_finishes_requests_in_flight(store_dir):
    app, server = serve(store_dir)
    server.__enter__()
    with httpx2.Client(base_url=server.url, timeout=30) as http:
        release = server.block_batches(app)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(http.post, "/v1/classify", json={"texts": ["book a flight"]})
            wait_for(lambda: app.state.labelsync.batcher.pending == 1)
            server.server.should_exit = True  # what SIGTERM / Ctrl-C does
            time.sleep(0.3)
            assert server.thread.is_alive()  # still waiting for the request
            with pytest.raises(httpx2.TransportError):
                httpx2.post(f"{server.url}/v1/classify", json={"texts": ["x"]}, timeout=2)
            release.set()
            answer = in_flight.result(timeout=30)
    assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "book_flight"
    server.thread.join(30)
    assert not server.thread.is_alive()
