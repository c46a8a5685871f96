"""Atomic writes of files and folders."""

import pytest

from labelsync._io import atomic_directory, atomic_write_text


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "store"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (target / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed mid-write")
    assert (target / "a.txt").read_text() == "first"  # the old one survives a failure
    with atomic_directory(target) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no temp folders left


def test_atomic_write_text_leaves_no_temp_file(tmp_path):
    atomic_write_text(tmp_path / "x.json", "{}")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_files_get_the_permissions_of_a_plain_open(tmp_path):
    import os

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    mode = os.stat(tmp_path / "atomic.txt").st_mode & 0o777
    assert mode == os.stat(plain).st_mode & 0o777  # not mkstemp's private 0600
