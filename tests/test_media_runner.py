"""``extract_features`` / ``labelsync features``: the files a dataset folder uses, the failure
report, resuming after a kill, shards and merge, workers, and one clip in memory afterwards."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO, run_cli
from media_clips import clip_folder, copy_clips
from safetensors.numpy import load_file

from labelsync import extract_clip, extract_features
from labelsync.media import Featurizer, MediaError, merge_shards

AUDIO_ONLY = {"video": None, "audio": "egemaps"}  # fast settings for the bookkeeping tests


def _arrays(out, modality):
    return load_file(str(out / f"{modality}_feats.safetensors"))


def _same_files(a, b, modalities=("video", "audio")):
    for modality in modalities:
        left, right = _arrays(a, modality), _arrays(b, modality)
        assert list(left) == list(right)
        assert all(np.array_equal(left[k], right[k]) for k in left)
    assert (a / "failures.csv").read_text() == (b / "failures.csv").read_text()


def _has_cuda():
    import torch

    return torch.cuda.is_available()


def _leftovers(out):
    return [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == "shards"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The default extractors over the shared clip folder (face, noface, silent, mute, voice.wav,
    broken.mp4), once for the module."""
    out = tmp_path_factory.mktemp("features") / "out"
    return out, extract_features(clip_folder(), out, progress=False)


def test_a_folder_of_clips_becomes_feature_files_with_a_failure_report(full_run):
    out, result = full_run
    assert (result.clips, result.extracted, result.failed, result.merged) == (6, 5, 1, True)
    assert result.dims == {"video": 1682, "audio": 25}
    assert result.notes == {
        "no audio track: features of silence": 1,
        "no video stream: no video features": 1,
    }
    line = result.summary()
    assert line.startswith("5 clips extracted, 1 failed (reasons in ") and "(1682-d)" in line
    video, audio = _arrays(out, "video"), _arrays(out, "audio")
    assert sorted(video) == ["face", "mute", "noface", "silent"]  # voice.wav has no picture
    assert sorted(audio) == ["face", "mute", "noface", "silent", "voice"]
    assert all(a.dtype == np.float32 and a.shape == (10, 1682) for a in video.values())
    assert video["face"][:, 0].all() and not video["noface"].any()
    assert abs(audio["voice"].shape[0] - 150) <= 8 and audio["face"].shape[1] == 25
    assert audio["mute"][:, 0].max() < 0.01  # silence stands in for the missing track
    with open(out / "failures.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["key"] for r in rows] == ["broken"] and rows[0]["path"].endswith("broken.mp4")
    assert rows[0]["reason"].startswith("cannot decode")
    description = json.loads((out / "extract.json").read_text())
    assert description["format"] == "labelsync-features/1"
    assert description["settings"]["fps"] == 5.0 and description["settings"]["video"] == "mediapipe"
    assert description["video"]["dim"] == 1682 and description["audio"]["dim"] == 25
    assert description["video"]["file"] == "video_feats.safetensors"
    assert description["clips"] == {"total": 6, "extracted": 5, "failed": 1}
    assert _leftovers(out) == []


def test_the_output_folder_is_a_dataset_for_the_loaders(full_run, tmp_path):
    from labelsync.data import load_dataset

    out, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(out, data)
    for split, keys in {"train": ["face", "noface"], "dev": ["silent"], "test": ["mute"]}.items():
        rows = "".join(f"{k},hello there,{'a' if k != 'noface' else 'b'}\n" for k in keys)
        (data / f"{split}.csv").write_text("id,text,label\n" + rows)
    dataset = load_dataset(data)
    assert dataset.feature_dims == {"video": 1682, "audio": 25}


def test_one_clip_in_memory_matches_the_files(full_run):
    out, _ = full_run
    video, audio = _arrays(out, "video"), _arrays(out, "audio")
    for settings in (out, out / "extract.json", json.loads((out / "extract.json").read_text())):
        features = extract_clip(clip_folder() / "face.mp4", settings)
        assert np.array_equal(features["video"], video["face"])
        assert np.array_equal(features["audio"], audio["face"])
    wav = extract_clip(clip_folder() / "voice.wav", out)
    assert list(wav) == ["audio"] and np.array_equal(wav["audio"], audio["voice"])
    on_gpu = json.loads((out / "extract.json").read_text())
    on_gpu["settings"] = {**on_gpu["settings"], "video": None, "device": "cuda"}
    with Featurizer.from_description(on_gpu) as featurizer:  # made on a GPU, used here
        assert featurizer.settings.device == ("cuda" if _has_cuda() else "cpu")
        assert np.array_equal(featurizer(clip_folder() / "voice.wav")["audio"], audio["voice"])
    with pytest.raises(MediaError, match="not a labelsync extract description"):
        extract_clip(clip_folder() / "face.mp4", {"settings": {}})


def test_a_finished_folder_is_not_redone_and_other_settings_are_refused(full_run):
    out, _ = full_run
    before = (out / "video_feats.safetensors").stat().st_mtime_ns
    again = extract_features(clip_folder(), out, progress=False)
    assert (again.extracted, again.resumed, again.merged) == (0, 5, True)
    assert (out / "video_feats.safetensors").stat().st_mtime_ns == before
    with pytest.raises(MediaError, match="already holds features of other media or settings"):
        extract_features(clip_folder(), out, fps=2, progress=False)


_KILLER = """
import os, signal, sys
from labelsync import extract_features
seen = []
def on_clip(key):
    seen.append(key)
    if len(seen) == 3:  # the third clip is done but not saved yet: kill -9 now
        os.kill(os.getpid(), signal.SIGKILL)
extract_features(sys.argv[1], sys.argv[2], video="mediapipe-face", save_every=1,
                 progress=False, on_clip=on_clip)
"""


def test_a_killed_run_resumes_to_the_same_files(tmp_path):
    names = ("broken.mp4", "face.mp4", "noface.mp4", "silent.mp4", "voice.wav")
    media = copy_clips(tmp_path / "media", names)
    reference = tmp_path / "reference"
    extract_features(media, reference, video="mediapipe-face", progress=False)
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLER), str(media), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not list(out.glob("*_feats.safetensors")) and not (out / "extract.json").exists()
    chunks = sorted((out / "shards" / "0-of-1").glob("chunk-*.safetensors"))
    # broken (a failure) and face were saved one by one; noface was lost with the process
    assert len(chunks) == 2
    for chunk in chunks:
        load_file(str(chunk))  # every file on disk is whole
    resumed = extract_features(media, out, video="mediapipe-face", progress=False)
    assert (resumed.resumed, resumed.extracted, resumed.failed) == (1, 3, 1)  # broken: tried again
    _same_files(reference, out)
    assert _leftovers(out) == []


def test_ctrl_c_keeps_the_clips_finished_so_far(tmp_path):
    media = copy_clips(tmp_path / "media", ("face.mp4", "noface.mp4", "voice.wav"))
    out = tmp_path / "out"

    def interrupt(key):
        if key == "noface":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_features(media, out, **AUDIO_ONLY, on_clip=interrupt, progress=False)
    assert len(list((out / "shards" / "0-of-1").glob("chunk-*"))) == 1
    result = extract_features(media, out, **AUDIO_ONLY, progress=False)
    assert (result.resumed, result.extracted) == (2, 1)


def test_shards_merge_into_the_files_of_one_run(tmp_path, capsys):
    media = clip_folder()
    single = tmp_path / "single"
    extract_features(media, single, **AUDIO_ONLY, progress=False)
    out = tmp_path / "sharded"
    first = extract_features(media, out, **AUDIO_ONLY, shard="0/2", progress=False)
    assert first.clips == 3 and not first.merged and "features merge" in first.summary()
    assert not (out / "audio_feats.safetensors").exists()
    with pytest.raises(MediaError, match="shard 1/2 not found"):
        merge_shards(out)
    code, _, err = run_cli(
        capsys,
        "features",
        "extract",
        media,
        "--out",
        out,
        "--shard",
        "1/2",
        "--video-extractor",
        "none",
        "--no-progress",
    )
    assert code == 0, err
    shard_zero = out / "shards" / "0-of-2"
    state = json.loads((shard_zero / "state.json").read_text())
    (shard_zero / "state.json").write_text(json.dumps({**state, "done": False}))
    with pytest.raises(MediaError, match="shard 0/2 is not finished"):
        merge_shards(out)
    (shard_zero / "state.json").write_text(json.dumps(state))
    stray = out / "shards" / "1-of-2" / "chunk-000099.safetensors"
    shutil.copy(next(shard_zero.glob("chunk-*")), stray)  # shard 0's clips again, in shard 1
    with pytest.raises(MediaError, match="extracted by shard 1, but it belongs to shard 0"):
        merge_shards(out)
    stray.unlink()
    code, out_text, err = run_cli(capsys, "features", "merge", out)
    assert code == 0, err
    # audio only: mute.mp4 has no audio stream to read, so it fails with broken.mp4
    assert "merged 4 of 6 clips (2 failed, reasons in" in out_text and "(25-d)" in out_text
    _same_files(single, out, modalities=("audio",))
    assert not (out / "shards").exists() and not (out / "video_feats.safetensors").exists()


def test_shards_of_other_media_or_settings_are_refused(tmp_path):
    out = tmp_path / "out"
    extract_features(clip_folder(), out, **AUDIO_ONLY, shard="0/2", progress=False)
    fewer = copy_clips(tmp_path / "fewer", ("face.mp4", "noface.mp4"))
    with pytest.raises(MediaError, match="started on another media list"):
        extract_features(fewer, out, **AUDIO_ONLY, shard="0/2", progress=False)
    with pytest.raises(MediaError, match="started with other settings"):
        extract_features(clip_folder(), out, **AUDIO_ONLY, fps=2, shard="0/2", progress=False)


def test_two_workers_give_the_same_files_as_one(tmp_path):
    media = copy_clips(tmp_path / "media", ("face.mp4", "noface.mp4", "voice.wav", "broken.mp4"))
    one = tmp_path / "one"
    extract_features(media, one, **AUDIO_ONLY, progress=False)
    two = tmp_path / "two"
    result = extract_features(media, two, **AUDIO_ONLY, workers=2, save_every=1, progress=False)
    assert (result.extracted, result.failed) == (3, 1)
    _same_files(one, two, modalities=("audio",))


def test_cli_manifest_cuts_usage_errors_and_all_failed(tmp_path, capsys):
    manifest = tmp_path / "utterances.csv"
    manifest.write_text("key,path,start,end\nfirst,face.mp4,0,1\nsecond,face.mp4,1,1.6\n")
    out = tmp_path / "cut"
    code, text, err = run_cli(
        capsys,
        "features",
        "extract",
        clip_folder(),
        "--manifest",
        manifest,
        "--out",
        out,
        "--video-extractor",
        "mediapipe-face",
        "--fps",
        5,
    )
    assert code == 0, err
    assert text.startswith("2 clips extracted, 0 failed in ")
    video = _arrays(out, "video")
    assert video["first"].shape == (5, 1409) and video["second"].shape == (3, 1409)
    assert video["first"][:, 0].all()
    code, _, err = run_cli(
        capsys, "features", "extract", clip_folder(), "--out", tmp_path / "x", "--shard", "2/2"
    )
    assert code == 2 and "0 <= I < N" in err
    code, _, err = run_cli(
        capsys,
        "features",
        "extract",
        clip_folder(),
        "--out",
        tmp_path / "y",
        "--video-extractor",
        "none",
        "--audio-extractor",
        "none",
    )
    assert code == 1 and "no extractor" in err
    bad = copy_clips(tmp_path / "bad", ("broken.mp4",))
    code, text, _ = run_cli(capsys, "features", "extract", bad, "--out", tmp_path / "z")
    assert code == 1 and "0 clips extracted, 1 failed" in text
    code, _, err = run_cli(capsys, "features", "merge", tmp_path / "nothing-here")
    assert code == 1 and "no shards to merge" in err
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
