"""``labelsync serve RUN``: ``/v1/predict`` on a trained text+video+audio run, with feature files
uploaded or read from the media folder, and the one-line 422s of bad media."""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
from pathlib import Path

import httpx2
import numpy as np
import pytest
from safetensors.numpy import save_file
from serve_helpers import ServerThread, wait_for
from test_training_helpers import av_mintrec, single_thread, tiny_options  # noqa: F401

from labelsync import Client
from labelsync.predict import Predictor
from labelsync.serve.app import create_app
from labelsync.serve.config import ServeConfig
from labelsync.serve.media_inputs import MediaInputError, uploaded
from labelsync.training import TrainConfig, Trainer

TEXTS = ["i am so sorry about that", "thank you so much for the help"]


@pytest.fixture(scope="module")
def av_run(tmp_path_factory) -> Path:
    """A 1-epoch text+video+audio run (video 8-d, audio 6-d features)."""
    run = tmp_path_factory.mktemp("runs") / "av"
    Trainer(TrainConfig(**tiny_options(data_dir=str(av_mintrec()), epochs=1)), run).train()
    return run


@pytest.fixture
def media(tmp_path) -> Path:
    """Two texts' feature files in three formats, under a media folder."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(2):
        np.save(folder / f"v{i}.npy", rng.standard_normal((5 + i, 8), dtype=np.float32))
        np.savez(folder / f"a{i}.npz", feats=rng.standard_normal((7, 6), dtype=np.float32))
    save_file({"video": np.ones((4, 5), dtype=np.float32)}, str(folder / "bad.safetensors"))
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return folder


def test_predict_with_feature_paths_and_uploads(av_run, media, tmp_path, monkeypatch):
    videos = [media / "v0.npy", media / "v1.npy"]
    audios = [media / "a0.npz", media / "a1.npz"]
    expected = Predictor.from_run(av_run).predict(TEXTS, video=videos, audio=audios, top_k=2)
    app = create_app(ServeConfig(path=str(av_run), media_dir=str(media)))
    uploads_tmp = tmp_path / "tmp"
    uploads_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(uploads_tmp))  # where uploads are spooled
    with ServerThread(app) as server, httpx2.Client(base_url=server.url) as http:
        body = {"texts": TEXTS, "video": ["v0.npy", "v1.npy"], "audio": ["a0.npz", "a1.npz"]}
        answer = http.post("/v1/predict", json={**body, "top_k": 2})
        assert answer.status_code == 200, answer.text
        got = answer.json()["predictions"]
        assert got == [p.to_dict() for p in expected]

        with Client(server.url) as client:  # the same files, uploaded (multipart/form-data)
            uploaded = client.predict(TEXTS, video=videos, audio=audios, top_k=2)
            assert [p.to_dict() for p in uploaded] == got
            assert client.labels()[0]["label"] == Predictor.from_run(av_run).labels[0]
            assert client.health()["kind"] == "run"
        assert list(uploads_tmp.iterdir()) == []  # the private upload folder is gone

        text_only = http.post("/v1/predict", json={"texts": ["hello there"]})
        assert text_only.status_code == 200 and len(text_only.json()["predictions"]) == 1
        wrong = http.post("/v1/classify", json={"texts": ["x"]})
        assert wrong.status_code == 404 and "use POST /v1/predict" in wrong.text


BAD_MEDIA = [
    ({"video": ["../v0.npy", "v1.npy"]}, "video[0]: '../v0.npy' is outside the media folder"),
    ({"video": ["v0.npy", "nope.npy"]}, "video[1]: 'nope.npy' not found in the media folder"),
    ({"video": ["v0.npy", "notes.txt"]}, "video[1]: unsupported video file 'notes.txt'"),
    # a clip for a run trained on features that did not come from `labelsync features extract`
    ({"video": ["clip.mp4", "clip.mp4"]}, "a raw clip, but this run's video features came from"),
    ({"video": ["v0.npy"], "audio": ["a0.npz"]}, "video: 1 files for 2 texts (one per text)"),
    ({"video": ["v0.npy", "v1.npy"]}, "this model fuses audio+video; got video"),
    ({"video": ["bad.safetensors", "v1.npy"], "audio": ["a0.npz", "a1.npz"]}, "5-d"),
]


def test_bad_media_gets_a_one_line_422_without_failing_other_requests(av_run, media):
    app = create_app(ServeConfig(path=str(av_run), media_dir=str(media), max_wait_ms=100))
    with ServerThread(app) as server, httpx2.Client(base_url=server.url, timeout=30) as http:
        for extra, message in BAD_MEDIA:
            answer = http.post("/v1/predict", json={"texts": TEXTS, **extra})
            assert answer.status_code == 422, extra
            detail = answer.json()["detail"]
            assert message in detail and "\n" not in detail
            assert "/tmp" not in detail and str(media) not in detail  # no server paths

        files = [("video", ("clip.mp4", b"\x00" * 10, "video/mp4"))]
        raw = http.post("/v1/predict", data={"texts": ["hi"]}, files=files)
        assert raw.status_code == 422 and "a raw clip, but this run's video" in raw.text
        assert "upload 'clip.mp4'" in raw.text and "/tmp" not in raw.text

        # a bad request batched with a good one fails alone
        release = server.block_batches(app)
        good = {"texts": ["thank you"], "video": ["v0.npy"], "audio": ["a0.npz"]}
        bad = {"texts": ["thank you"], "video": ["bad.safetensors"], "audio": ["a0.npz"]}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(http.post, "/v1/predict", json=b) for b in (good, bad)]
            wait_for(lambda: app.state.labelsync.batcher.pending == 2)
            release.set()
            statuses = [f.result(timeout=30).status_code for f in futures]
        assert statuses == [200, 422]

    closed = create_app(ServeConfig(path=str(av_run)))  # no --media-dir: no server-side paths
    with ServerThread(closed) as server:
        answer = httpx2.post(f"{server.url}/v1/predict", json={"texts": ["x"], "video": ["v.npy"]})
        assert answer.status_code == 422 and "server-side paths are off" in answer.text


def test_an_upload_over_the_cap_is_refused_and_leaves_nothing_behind(tmp_path, monkeypatch):
    class Upload:  # the part of Starlette's UploadFile that load_uploads reads
        filename = "v.npy"

        def __init__(self, data: bytes):
            self.data = data

        async def read(self, size: int) -> bytes:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    async def read_all() -> None:
        async with uploaded({"video": [Upload(b"\x00" * 5000)]}, 1000):
            pass

    with pytest.raises(MediaInputError, match=r"video\[0\]: file over the 1000 byte upload limit"):
        asyncio.run(read_all())
    assert list(tmp_path.iterdir()) == []


class RecordingClips:
    """Stands in for the run's clip extractors (labelsync.media's own tests cover those): records
    which clip files it was given, and whether they were still on disk then."""

    def __init__(self):
        self.seen: list[tuple[str, bool]] = []

    def convert(self, video, audio):
        def features(item, dim):
            if isinstance(item, Path):
                self.seen.append((item.name, item.is_file()))
                return np.full((4, dim), 0.5, dtype=np.float32)
            return item

        return [features(v, 8) for v in video], [features(a, 6) for a in audio]


def test_clips_are_featurized_before_batching_while_their_upload_exists(av_run, media):
    app = create_app(ServeConfig(path=str(av_run), media_dir=str(media)))
    clips = RecordingClips()
    app.state.labelsync.served.model.clips = clips
    clip_features = np.full((4, 8), 0.5, dtype=np.float32)
    audio = np.load(media / "a0.npz")["feats"]
    expected = Predictor.from_run(av_run).predict(["hi"], video=[clip_features], audio=[audio])
    with ServerThread(app) as server, httpx2.Client(base_url=server.url) as http:
        files = [
            ("video", ("talk.mp4", b"not decoded here", "video/mp4")),
            ("audio", ("a0.npz", (media / "a0.npz").read_bytes(), "application/octet-stream")),
        ]
        answer = http.post("/v1/predict", data={"texts": ["hi"]}, files=files)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [p.to_dict() for p in expected]
        json_body = {"texts": ["hi"], "video": ["clip.mp4"], "audio": ["a0.npz"]}
        assert http.post("/v1/predict", json=json_body).json() == answer.json()
    assert clips.seen == [("video-0.mp4", True), ("clip.mp4", True)]
