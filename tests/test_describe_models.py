"""Real models: SmolLM2 through llama.cpp (the offline default), through llama.cpp's own
OpenAI-compatible server, and through transformers; plus an interrupted CLI run."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import chat_reply, good_answer

from labelsync import Descriptions, describe
from labelsync.cli import main
from labelsync.describe.backends import default_gguf
from labelsync.describe.cache import DescriptionCache

pytestmark = pytest.mark.slow
LABELS = ["Thank", "Greet", "Apologise"]


def _check(result, labels):
    assert list(result) == labels
    for label in labels:
        texts = result[label]
        assert len(texts) == 3 and len(set(texts)) == 3
        assert all(len(t.split()) >= 3 for t in texts)


def test_default_backend_offline_cli(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    out = tmp_path / "d.yaml"
    args = ["describe", "--labels", str(labels), "--out", str(out)]
    start = time.perf_counter()
    main(args)
    cold = time.perf_counter() - start
    result = Descriptions.from_yaml(out)
    _check(result, LABELS)
    assert {result.entry(x).model for x in LABELS} == {"SmolLM2-135M-Instruct.Q4_1.gguf"}
    assert len(DescriptionCache(tmp_path / "cache")) == 3
    start = time.perf_counter()
    main(args)
    assert time.perf_counter() - start < cold / 3  # cached: no model is loaded
    assert Descriptions.from_yaml(out).to_dict() == result.to_dict()
    assert "Thank" in capsys.readouterr().out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            break
        except OSError:
            assert proc.poll() is None, "llama_cpp.server exited"
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_openai_backend_against_real_llama_cpp_server(llama_server):
    result = describe(
        LABELS[:2],
        backend="openai",
        model="smollm2",
        base_url=llama_server,
        prompt="describe_fewshot",
        samples=2,
        concurrency=2,
    )
    _check(result, LABELS[:2])
    assert result.entry("Thank").model == "smollm2"


def test_hf_backend_runs_the_same_gguf_through_transformers():
    pytest.importorskip("gguf")
    result = describe(["Thank"], backend="hf", samples=1, max_retries=3, guard=False)
    _check(result, ["Thank"])
    assert result.entry("Thank").model.endswith("::SmolLM2-135M-Instruct.Q4_1.gguf")


def test_interrupt_keeps_finished_labels(scripted_server, tmp_path):
    def script(req, i):
        if i > 1:
            time.sleep(30)  # the second label hangs until the run is interrupted
        return chat_reply(good_answer(req))

    server = scripted_server(script)
    env = {**os.environ, "LABELSYNC_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "labelsync",
        "describe",
        "--labels",
        "mintrec",
        "--backend",
        "openai",
        "--model",
        "m",
        "--base-url",
        server.url,
        "--concurrency",
        "1",
        "--no-guard",
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    cache = DescriptionCache(tmp_path / "cache")
    deadline = time.monotonic() + 60
    while len(cache) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # show where it hung instead of a bare timeout
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running 30 s after SIGINT (cache: {len(cache)}); stderr: {err[-3000:]}")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert len(cache) == 1
    assert not list((tmp_path / "cache").rglob("*.tmp"))
