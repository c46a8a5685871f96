"""``extract_features``: a folder of clips (or a manifest) -> feature files a dataset loader reads.

The main process lists the media, takes this shard's clips, skips those a previous run finished,
and hands the rest to the extractors: in-process with one worker, else to ``workers`` spawned
processes that each build their own extractors. Finished clips are saved in chunks (every
``save_every`` clips or minute); a failed clip is recorded with its reason and the batch goes
on. A whole run (one shard) merges at the end; with ``shard="I/N"`` run
``features merge`` once every shard is done.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from .base import MediaError
from .featurizer import Featurizer
from .settings import EXTRACT_JSON, ExtractSettings
from .shards import FAILURES_CSV, Failure, ShardStore, feature_file, merge_shards
from .sources import MediaItem, items_digest, list_media, parse_shard, shard_items

__all__ = ["extract_features", "ExtractResult"]

log = logging.getLogger(__name__)

_SAVE_SECONDS = 60.0  # a chunk at least this often, so a kill loses at most a minute of work
Outcome = tuple[
    str, dict[str, np.ndarray] | None, str | None, list[str]
]  # key, arrays, error, notes


@dataclass
class ExtractResult:
    """What one ``extract_features`` call did (a shard's part when ``shard`` was given)."""

    out: Path
    shard: tuple[int, int]
    clips: int  # clips of this shard
    extracted: int  # extracted by this call
    resumed: int  # already finished by an earlier, interrupted call
    failed: int
    seconds: float
    merged: bool  # the final feature files were written
    files: dict[str, Path] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        return self.extracted / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The one line the CLI prints at the end."""
        index, count = self.shard
        part = f"shard {index}/{count}: " if count > 1 else ""
        done = f"{self.extracted} clips extracted"
        if self.resumed:
            done += f" ({self.resumed} already done)"
        failed = (
            f"{self.failed} failed (reasons in {self.out / FAILURES_CSV})"
            if self.failed
            else "0 failed"
        )
        speed = f"{self.seconds:.1f} s, {self.clips_per_second:.2f} clips/s"
        files = ", ".join(f"{p} ({self.dims.get(m, '?')}-d)" for m, p in self.files.items())
        tail = (
            f" -> {files}"
            if self.merged
            else f"; when all {count} shards are done: labelsync features merge {self.out}"
        )
        return f"{part}{done}, {failed} in {speed}{tail}"


# -- per-clip work (also what a worker process runs) ------------------------------------------
_WORKER: dict[str, Featurizer] = {}  # the featurizer of a worker process (set by its initializer)


def _init_worker(settings: dict[str, Any], threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # this process only (spawned)
    _WORKER["featurizer"] = Featurizer(ExtractSettings.from_dict(settings))


def _featurize(featurizer: Featurizer, item: MediaItem) -> Outcome:
    try:
        result = featurizer.featurize(item.path, start=item.start, end=item.end)
    except MediaError as exc:  # its message starts with the path, which failures.csv has apart
        return item.key, None, str(exc).removeprefix(f"{item.path}: "), []
    except Exception as exc:  # noqa: BLE001 - a broken file can make any library raise: record it
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return item.key, None, f"{type(exc).__name__}: {reason}", []
    if not result.features:
        return item.key, None, "no stream the extractors can read", []
    return item.key, result.features, None, result.notes


def _work_in_worker(item: MediaItem) -> Outcome:
    return _featurize(_WORKER["featurizer"], item)


def _outcomes(
    items: Sequence[MediaItem], settings: ExtractSettings, featurizer: Featurizer, workers: int
) -> Iterator[tuple[MediaItem, Outcome]]:
    """Each item with its outcome, in the main process or a pool of spawned workers."""
    if workers <= 1:
        for item in items:
            yield item, _featurize(featurizer, item)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(settings.to_dict(), threads),
    )
    pending: dict[Future, MediaItem] = {}
    queue = iter(items)
    try:
        while True:
            while len(pending) < 2 * workers:
                item = next(queue, None)
                if item is None:
                    break
                pending[pool.submit(_work_in_worker, item)] = item
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                item = pending.pop(future)
                try:
                    yield item, future.result()
                except BrokenProcessPool as exc:
                    raise MediaError(f"an extraction worker died ({exc}); see the log") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- the progress bar -------------------------------------------------------------------------
def _progress(show: bool | None) -> Any:
    """A bar with clips/s on stderr, shown only on a terminal (and unless ``show`` is False)."""
    from rich import progress as bars
    from rich.console import Console
    from rich.text import Text

    class ClipsPerSecond(bars.ProgressColumn):
        def render(self, task: Any) -> Text:
            rate = task.completed / task.elapsed if task.elapsed else 0.0
            return Text(f"{rate:.2f} clips/s")

    console = Console(stderr=True)
    enabled = console.is_terminal if show is None else bool(show) and console.is_terminal
    columns = [
        bars.TextColumn("extracting"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        ClipsPerSecond(),
        bars.TimeElapsedColumn(),
        bars.TimeRemainingColumn(),
    ]
    return bars.Progress(*columns, console=console, transient=True, disable=not enabled)


# -- the run ----------------------------------------------------------------------------------
def _already_complete(out: Path, settings: ExtractSettings, digest: str) -> dict[str, Any] | None:
    path = out / EXTRACT_JSON
    if not path.is_file():
        return None
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
        then = ExtractSettings.from_dict(description["settings"], str(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{path}: unreadable extract description ({exc})") from None
    if description.get("media_digest") != digest or not then.same_features(settings):
        raise MediaError(
            f"{out}: already holds features of other media or settings; use another --out"
        )
    return description


def extract_features(
    media: str | os.PathLike | Sequence[str | os.PathLike | MediaItem],
    out: str | os.PathLike,
    *,
    video: str | None = "mediapipe",
    audio: str | None = "egemaps",
    manifest: str | os.PathLike | None = None,
    fps: float = 5.0,
    sample_rate: int = 16000,
    max_side: int = 640,
    device: str = "cpu",
    batch_size: int = 16,
    workers: int = 1,
    shard: str | tuple[int, int] | None = None,
    save_every: int = 50,
    progress: bool | None = None,
    on_clip: Callable[[str], None] | None = None,
) -> ExtractResult:
    """Extract video and audio features of every clip into ``out`` (see the module docstring).

    ``media``: a folder of clips named by key, a manifest ``.csv`` (``key,path[,start,end]``),
    one file, or a list of paths / ``MediaItem``s; ``manifest`` with a folder reads paths
    relative to it. ``video``/``audio``: extractor names (``"mediapipe"``, ``"egemaps"``, a
    Hugging Face id or path) or None. ``shard="I/N"``: only every N-th clip from the I-th.
    Writes ``out/{video,audio}_feats.safetensors``, ``out/failures.csv`` and
    ``out/extract.json``; an interrupted call continues where it stopped.
    """
    started = time.perf_counter()
    out = Path(out)
    settings = ExtractSettings(video, audio, fps, sample_rate, max_side, device, batch_size)
    index, count = parse_shard(shard)
    if workers < 1:
        raise MediaError(f"workers must be >= 1, got {workers}")
    if save_every < 1:
        raise MediaError(f"save_every must be >= 1, got {save_every}")
    items = list_media(media, manifest)
    digest = items_digest(items)
    mine = shard_items(items, index, count)
    complete = _already_complete(out, settings, digest)
    if complete is not None:
        log.info("%s: already complete (%s)", out, EXTRACT_JSON)
        return _result_of(out, (index, count), mine, complete, time.perf_counter() - started)
    store = ShardStore(out, index, count)
    featurizer = Featurizer(settings)
    try:
        store.open(settings, featurizer.describe(), digest, len(items), [i.key for i in mine])
        done, _ = store.progress()
        todo = [item for item in mine if item.key not in done]
        if done:
            log.info(
                "%s: resuming, %d of %d clips already done", out, len(mine) - len(todo), len(mine)
            )
        if workers > 1:  # built here to check the settings and describe the extractors;
            featurizer.close()  # each worker builds its own
        counts = _run(todo, settings, featurizer, workers, store, save_every, progress, on_clip)
    finally:
        featurizer.close()
    seconds = time.perf_counter() - started
    store.finish(seconds)
    _, standing = store.progress()  # this run's failures and earlier ones tried again
    result = ExtractResult(
        out,
        (index, count),
        clips=len(mine),
        extracted=counts["extracted"],
        resumed=len(mine) - len(todo),
        failed=len(standing),
        seconds=seconds,
        merged=False,
        notes=counts["notes"],
    )
    if count == 1:
        description = merge_shards(out)
        _fill_files(result, out, description)
    return result


def _run(
    todo: Sequence[MediaItem],
    settings: ExtractSettings,
    featurizer: Featurizer,
    workers: int,
    store: ShardStore,
    save_every: int,
    progress: bool | None,
    on_clip: Callable[[str], None] | None,
) -> dict[str, Any]:
    results: dict[str, dict[str, np.ndarray]] = {}
    failures: list[Failure] = []
    counts: dict[str, Any] = {"extracted": 0, "notes": {}}
    last_save = time.monotonic()

    def save() -> None:
        nonlocal last_save
        store.save(results, failures)
        results.clear()
        failures.clear()
        last_save = time.monotonic()

    with _progress(progress) as bar:
        task = bar.add_task("extracting", total=len(todo))
        try:
            for item, (key, arrays, error, notes) in _outcomes(todo, settings, featurizer, workers):
                if arrays is None:
                    failures.append(Failure(key, item.path, error or "unknown error"))
                    log.warning("skipped %s (%s): %s", key, item.path, error)
                else:
                    results[key] = arrays
                    counts["extracted"] += 1
                for note in notes:
                    counts["notes"][note] = counts["notes"].get(note, 0) + 1
                bar.advance(task)
                if on_clip is not None:
                    on_clip(key)
                if len(results) + len(failures) >= save_every or (
                    time.monotonic() - last_save > _SAVE_SECONDS
                ):
                    save()
        finally:  # also on Ctrl-C: keep every clip finished so far
            save()
    return counts


def _fill_files(result: ExtractResult, out: Path, description: dict[str, Any]) -> None:
    result.merged = True
    for modality in ("video", "audio"):
        info = description.get(modality)
        if info and info.get("file"):
            result.files[modality] = feature_file(out, modality)
            result.dims[modality] = int(info["dim"])


def _result_of(
    out: Path,
    shard: tuple[int, int],
    mine: Sequence[MediaItem],
    description: dict[str, Any],
    seconds: float,
) -> ExtractResult:
    clips = description.get("clips", {})
    result = ExtractResult(
        out,
        shard,
        len(mine),
        0,
        int(clips.get("extracted", 0)),
        int(clips.get("failed", 0)),
        seconds,
        True,
    )
    _fill_files(result, out, description)
    return result
