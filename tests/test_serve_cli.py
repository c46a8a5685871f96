"""``labelsync serve`` as a user runs it: a subprocess with two worker processes and an API key,
``labelsync classify --server``, a reload that reaches every worker, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx2
import pytest
from conftest import run_cli
from serve_helpers import DESCRIPTIONS, MORE, metric

from labelsync.store import LabelStore

KEY = "cli-test-key-7f3a9"


@pytest.fixture
def store_dir(tmp_path):
    folder = tmp_path / "store"
    LabelStore.build(DESCRIPTIONS).save(folder)
    return folder


def test_bad_serve_commands_fail_in_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "serve", tmp_path)
    assert code == 1 and "neither a label store" in err and len(err.strip().splitlines()) == 1
    store = tmp_path / "store"
    LabelStore.build(DESCRIPTIONS).save(store)
    code, _, err = run_cli(capsys, "serve", store, "--api-key-env", "LABELSYNC_NO_SUCH_VAR")
    assert code == 1 and "LABELSYNC_NO_SUCH_VAR: that environment variable is not set" in err
    code, _, err = run_cli(capsys, "serve", store, "--max-queue", "8", "--max-batch-size", "16")
    assert code == 1 and "max-queue (8) must be at least max-batch-size (16)" in err
    code, _, err = run_cli(capsys, "classify", "just a text")
    assert code == 2 and "--store" in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(process: subprocess.Popen, url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stderr.read()}")
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve was not ready in time")


def test_serve_two_workers_with_a_key_classify_server_reload_and_sigterm(
    store_dir, capsys, monkeypatch
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LABELSYNC_TEST_KEY": KEY, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "labelsync", "serve", str(store_dir), "--port", str(port),
            "--workers", "2", "--api-key-env", "LABELSYNC_TEST_KEY", "--access-log"]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(process, url)
        auth = {"Authorization": f"Bearer {KEY}"}
        monkeypatch.setenv("LABELSYNC_API_KEY", KEY)
        code, out, err = run_cli(capsys, "classify", "--server", url, "--store", store_dir,
                                 "book me a flight to rome", "--json")  # fmt: skip
        assert code == 0, err
        row = json.loads(out)
        assert row["label"] == "book_flight" and "warning" not in err
        assert row["threshold_method"] == "default"  # as a local classify says it

        store = LabelStore.load(store_dir)
        store.add(MORE)
        store.save(store_dir)  # what `labelsync store add` does
        code, out, err = run_cli(capsys, "classify", "--server", url, "--store", store_dir,
                                 "send 50 dollars to my savings")  # fmt: skip
        assert code == 0 and "does not serve" in err  # the server still has the old version
        assert "OOS threshold" in out and "(default, from the store" in out
        assert httpx2.post(f"{url}/v1/reload", headers=auth).json()["labels"] == 4
        question = {"texts": ["send 50 dollars to my savings"]}
        for _ in range(8):  # whichever worker answers, it has the new store
            answer = httpx2.post(f"{url}/v1/classify", json=question, headers=auth)
            assert answer.json()["predictions"][0]["label"] == "transfer"
        metrics = httpx2.get(f"{url}/metrics", headers=auth).text  # summed over both workers
        route = 'labelsync_requests_total{method="POST",route="/v1/classify",status="200"}'
        assert metric(metrics, route) == 10
        assert httpx2.post(f"{url}/v1/classify", json=question).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    logs = (out + err).decode()
    assert "POST /v1/classify" in logs and KEY not in logs
    assert f"serving store {store_dir}" in logs
