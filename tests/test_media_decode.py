"""Decoding real files with PyAV (frame sampling, audio resampling, cuts, broken files) and
listing media (folder keys, manifests, shards)."""

from __future__ import annotations

import numpy as np
import pytest
from media_clips import clip_folder, write_numbered_clip

from labelsync.media import MediaError, MediaItem, list_media
from labelsync.media.decode import decode_clip, probe_streams
from labelsync.media.sources import items_digest, parse_shard, read_manifest, shard_items


def _numbers(frames: np.ndarray) -> list[int]:
    """Which numbered frames these are (grey level / 4)."""
    return np.round(frames.mean(axis=(1, 2, 3)) / 4).astype(int).tolist()


def test_face_clip_decodes_to_frames_at_fps_and_16k_mono_audio():
    clip = decode_clip(clip_folder() / "face.mp4", fps=5)
    assert clip.frames.shape == (10, 160, 160, 3) and clip.frames.dtype == np.uint8
    assert clip.duration == pytest.approx(2.0)
    assert clip.sample_rate == 16000 and clip.audio.dtype == np.float32
    assert abs(clip.audio.size - 32000) <= 1024  # AAC pads to whole 1024-sample frames
    # the 220 Hz tone survives AAC and resampling: the spectrum peaks there
    spectrum = np.abs(np.fft.rfft(clip.audio[:16000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 220) <= 2
    assert 0.2 < np.abs(clip.audio).max() < 0.4


def test_frames_are_those_on_screen_at_each_sampling_time(tmp_path):
    path = write_numbered_clip(tmp_path / "n.mp4", frames=25, fps=25)  # frame i has grey 4i
    clip = decode_clip(path, fps=5)
    assert _numbers(clip.frames) == [0, 5, 10, 15, 20]
    slow = write_numbered_clip(tmp_path / "slow.mp4", frames=4, fps=4)  # 4 fps source, 1 s
    again = _numbers(decode_clip(slow, fps=8).frames)
    assert again == [0, 0, 1, 1, 2, 2, 3, 3]  # below the sampling rate: repeated


def test_a_cut_keeps_only_its_frames_and_samples(tmp_path):
    path = write_numbered_clip(tmp_path / "n.mp4", frames=50, fps=25)
    clip = decode_clip(path, start=0.4, end=1.2, fps=5)
    assert _numbers(clip.frames) == [10, 15, 20, 25]
    cut = decode_clip(clip_folder() / "face.mp4", start=0.5, end=1.3)
    assert len(cut.frames) == 4 and cut.audio.size == 12800
    with pytest.raises(MediaError, match="no video frames"):
        decode_clip(path, start=5.0, end=6.0)


def test_streams_missing_scaling_and_audio_only_files():
    folder = clip_folder()
    voice = decode_clip(folder / "voice.wav")
    assert voice.frames is None and voice.audio.size == 24000 and voice.duration == 1.5
    mute = decode_clip(folder / "mute.mp4")
    assert mute.audio is None and len(mute.frames) == 10
    assert probe_streams(folder / "mute.mp4") == {"video": True, "audio": False}
    small = decode_clip(folder / "face.mp4", max_side=64, audio=False)
    assert small.frames.shape[1:] == (64, 64, 3) and small.audio is None
    with pytest.raises(MediaError, match="no video stream"):
        decode_clip(folder / "voice.wav", audio=False)


def test_broken_and_missing_files_are_one_line_errors_naming_the_file(tmp_path):
    broken = clip_folder() / "broken.mp4"
    with pytest.raises(MediaError, match="broken.mp4: cannot decode") as info:
        decode_clip(broken)
    assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match="nothing.mp4: file not found"):
        decode_clip(tmp_path / "nothing.mp4")


def test_folder_keys_follow_the_release_names(tmp_path):
    for name in ("S05_E16_329.mp4", "S04/E01/12.mp4", "dia9/utt1.wav", "notes.txt", ".hid.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    keys = [item.key for item in list_media(tmp_path)]
    assert keys == ["S04_E01_12", "S05_E16_329", "dia9_utt1"]
    (tmp_path / "S05_E16_329.wav").write_bytes(b"x")
    with pytest.raises(MediaError, match="key 'S05_E16_329' twice"):
        list_media(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="empty: no media files"):
        list_media(tmp_path / "empty")
    with pytest.raises(MediaError, match="not found"):
        list_media(tmp_path / "absent")


def test_manifest_rows_cuts_and_errors_name_the_line(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("key,path,start,end\nb,videos/long.mp4,1.5,3\na,/abs/x.mp4,,\n")
    items = read_manifest(manifest)
    assert items == [
        MediaItem("a", "/abs/x.mp4"),
        MediaItem("b", str(tmp_path / "videos/long.mp4"), 1.5, 3.0),
    ]
    assert list_media(manifest) == items
    assert list_media(tmp_path / "media", manifest)[1].path == str(
        tmp_path / "media/videos/long.mp4"
    )
    for body, message in [
        ("id,path\n1,x.mp4\n", "line 1: missing column 'key'"),
        ("key,path,start,end\na,x.mp4,2,1\n", "line 2: end 1 is not after start 2"),
        ("key,path,start\na,x.mp4,soon\n", "line 2: start must be a number"),
        ("key,path\na,x.mp4\n\na,y.mp4\n", "key 'a' twice: .*line 2 and .*line 4"),
        ("key,path\n,x.mp4\n", "line 2: empty key"),
    ]:
        manifest.write_text(body)
        with pytest.raises(MediaError, match=message):
            read_manifest(manifest)


def test_shards_split_every_nth_item_and_bad_specs_are_refused():
    items = [MediaItem(f"k{i}", f"/m/k{i}.mp4") for i in range(7)]
    parts = [shard_items(items, i, 3) for i in range(3)]
    assert sorted(k.key for part in parts for k in part) == [f"k{i}" for i in range(7)]
    assert [k.key for k in parts[1]] == ["k1", "k4"]
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (0, 1)
    for bad in ("4/4", "1", "a/b", "-1/3"):
        with pytest.raises(MediaError, match="shard"):
            parse_shard(bad)
    moved = [MediaItem(i.key, i.path.replace("/m/", "/mnt/other/")) for i in items]
    assert items_digest(moved) == items_digest(items)  # the same media mounted elsewhere
    assert items_digest(items[:-1]) != items_digest(items)
