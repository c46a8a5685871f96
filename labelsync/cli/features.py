"""``labelsync features extract`` and ``labelsync features merge``: thin commands over
``labelsync.media`` (raw video and audio -> feature files a dataset folder can use)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app
from .render import stdout_console

features_app = typer.Typer(
    help="Turn raw video and audio into feature files (video_feats/audio_feats.safetensors).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(features_app, name="features")

EXTRACT_EPILOG = """Examples:

  labelsync features extract clips/ --out data/mine          # S05_E16_329.mp4 -> key S05_E16_329

  labelsync features extract videos/ --manifest utterances.csv --out data/mine --workers 2

  labelsync features extract clips/ --out feats --audio-extractor wav2vec2 --video-extractor \\
      clip --device cuda        # Hugging Face models (ids or local folders) you have locally

  # a SLURM array of 4 jobs (--array=0-3), then once all are done:
  labelsync features extract clips/ --out feats --shard $SLURM_ARRAY_TASK_ID/4
  labelsync features merge feats
"""


def _say(text: str) -> None:
    stdout_console().print(text, soft_wrap=True, markup=False, highlight=False)


@features_app.command("extract", epilog=EXTRACT_EPILOG)
def extract_command(
    media: Path = typer.Argument(
        ..., help="A folder of clips named by key, a manifest .csv, or one media file."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the feature files."),
    manifest: Path = typer.Option(
        None, "--manifest", help="CSV key,path[,start,end]: cut utterances out of longer videos."
    ),
    video_extractor: str = typer.Option(
        "mediapipe",
        "--video-extractor",
        help="mediapipe (face, pose, hands), mediapipe-face, a Hugging Face image/video model "
        "id or folder (clip, swin, videomae), or none.",
    ),
    audio_extractor: str = typer.Option(
        "egemaps",
        "--audio-extractor",
        help="egemaps (openSMILE prosody), a Hugging Face speech model id or folder "
        "(wav2vec2, wavlm), or none.",
    ),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    shard: str = typer.Option(
        None, "--shard", help="I/N: only every N-th clip from the I-th (0 <= I < N)."
    ),
    fps: float = typer.Option(5.0, "--fps", min=0.01, help="Frames sampled per second."),
    sample_rate: int = typer.Option(16000, "--sample-rate", min=1000, help="Audio rate (Hz)."),
    max_side: int = typer.Option(
        640, "--max-side", min=16, help="Frames larger than this are scaled down first."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (Hugging Face extractors)."),
    batch_size: int = typer.Option(
        16, "--batch-size", min=1, help="Frames per forward pass (Hugging Face extractors)."
    ),
    save_every: int = typer.Option(
        50, "--save-every", min=1, help="Save finished clips every N clips (resume point)."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """Extract features of every clip into OUT; an interrupted run continues where it stopped.

    Writes OUT/video_feats.safetensors and OUT/audio_feats.safetensors (key -> (T, D) float32),
    OUT/extract.json (extractors, versions, settings, dims) and OUT/failures.csv (clips skipped,
    with the reason). Put train/dev/test files with an id column beside them and OUT is a
    dataset for `labelsync train`.
    """
    from ..media import MediaError, extract_features
    from ..media.sources import parse_shard

    try:
        parse_shard(shard)
    except MediaError as exc:
        raise typer.BadParameter(str(exc), param_hint="--shard") from None
    result = extract_features(
        media,
        out,
        video=video_extractor,
        audio=audio_extractor,
        manifest=manifest,
        fps=fps,
        sample_rate=sample_rate,
        max_side=max_side,
        device=device,
        batch_size=batch_size,
        workers=workers,
        shard=shard,
        save_every=save_every,
        progress=False if no_progress else None,
    )
    for note, clips in sorted(result.notes.items()):
        _say(f"note: {note} ({clips} clip{'s' if clips > 1 else ''})")
    _say(result.summary())
    if result.failed and not (result.extracted or result.resumed) and result.clips:
        raise typer.Exit(1)


@features_app.command("merge")
def merge_command(
    out: Path = typer.Argument(..., help="The --out folder the shards wrote to."),
    keep_shards: bool = typer.Option(
        False, "--keep-shards", help="Keep OUT/shards/ after merging."
    ),
) -> None:
    """Join the finished shards of OUT into its feature files.

    Checks that every shard is there and finished and that no key is missing or doubled, and
    writes nothing otherwise. Example: labelsync features merge feats
    """
    from ..media import merge_shards

    description = merge_shards(out, keep_shards=keep_shards)
    clips = description["clips"]
    files = [
        f"{out / info['file']} ({info['dim']}-d)"
        for modality in ("video", "audio")
        if (info := description.get(modality)) and info.get("file")
    ]
    failed = f", reasons in {out / 'failures.csv'}" if clips["failed"] else ""
    _say(
        f"merged {clips['extracted']} of {clips['total']} clips ({clips['failed']} failed"
        f"{failed}) -> {', '.join(files) or 'no feature file'}"
    )
