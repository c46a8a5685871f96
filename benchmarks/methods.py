"""What each method costs and gives, one JSON line per measurement.

    python benchmarks/methods.py [--only fusion_step] [--fusions none,mag,mult] [--steps 10]
        [--threads 1] [--encoder minilm] [--batch-size 8] [--video-len 180] [--device cpu]

``--fusions`` defaults to every registered fusion (``labelsync.model.fusion.FUSIONS``), each
timed with its preset's settings (``PRESET_OF``), plus ``EXTRA_VARIANTS`` (MulT at the
MIntRec2.0 sizes).

Benches (``--only`` picks some; all run by default):

- ``fusion_step``: one optimisation step (forward, backward, clipping, AdamW, scheduler) of
  each fusion's preset against the text-only step, on the same fixed batch of MIntRec-sized
  synthetic data: text padded to 50 tokens, video 180 x 256 (``--video-len 230`` for MIntRec's
  maximum), audio 400 x 768. Each fusion runs in its own process, so its peak memory (max RSS
  on CPU, ``max_memory_allocated`` on CUDA) is its own. Every row carries its ratio to the
  text-only row, of the median and of the fastest step (goal: step time <= 2x on CPU).

A bench is a function registered with ``@bench("name")`` that yields JSON-ready rows; add one
the same way (e.g. an inference comparison) and it runs with the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from step_timing import time_steps  # noqa: E402

Row = dict
STEP_GOAL = 2.0  # each fusion's step time <= 2x the text-only step (CPU)
BENCHES: dict[str, Callable[[argparse.Namespace], Iterator[Row]]] = {}

# fusion -> the preset that trains it; a fusion not named here uses the preset of its own name
# when there is one, else the text preset with that fusion (concat has no preset)
PRESET_OF = {
    "none": "text",
    "a-me": "a-mess",
    "mag": "mag-bert",
    "mult": "mult",
    "text-guided": "mvcn",
    "concat": "text",
}
# timed besides every registered fusion: name -> (fusion, options over its preset)
EXTRA_VARIANTS = {
    # MulT with the official MIntRec2.0 single-turn sizes (the preset has MIntRec's 120 / 8 / 8)
    "mult@mintrec2": ("mult", {"mult_dim": 80, "mult_heads": 2, "mult_layers": 2}),
}


def preset_of(fusion: str) -> str:
    """The preset whose settings a fusion is timed with."""
    from labelsync.training.presets import available_presets

    if fusion in PRESET_OF:
        return PRESET_OF[fusion]
    return fusion if fusion in available_presets() else "text"


def variant(name: str) -> tuple[str, dict]:
    """``(fusion, option overrides)`` of a timed variant (a fusion name or an extra variant)."""
    return EXTRA_VARIANTS.get(name, (name, {}))


def bench(name: str) -> Callable:
    """Register a bench: a function ``(args) -> iterator of rows``."""

    def register(fn: Callable[[argparse.Namespace], Iterator[Row]]) -> Callable:
        BENCHES[name] = fn
        return fn

    return register


# --- fusion_step ------------------------------------------------------------------------------


def _fusion_config(args: argparse.Namespace, name: str):
    """The TrainConfig a variant's preset resolves to, on the benchmark's encoder and lengths."""
    from labelsync.training import TrainConfig

    fusion, options = variant(name)
    return TrainConfig.resolve(
        None,
        preset=preset_of(fusion),
        dataset="mintrec",
        encoder=args.encoder,
        batch_size=args.batch_size,
        fusion=fusion,
        text_only=fusion == "none",
        max_text_len=50,
        max_video_len=args.video_len,
        max_audio_len=args.audio_len,
        **options,
    )


def measure_fusion_step(args: argparse.Namespace) -> Row:
    """Median step time and peak memory of one fusion's preset (run in a child process)."""
    import torch
    from transformers import AutoTokenizer

    from labelsync.data import load_dataset
    from labelsync.data.synthetic import write_mintrec
    from labelsync.model import IntentModel
    from labelsync.offline import resolve_model_path
    from labelsync.training.inputs import make_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    config = _fusion_config(args, args.fusion)
    features = config.model.fusion != "none"
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_mintrec(
            Path(tmp) / "mintrec",
            {"train": args.batch_size, "dev": 1, "test": 1},
            features="safetensors" if features else None,
            video_dim=args.video_dim,
            audio_dim=args.audio_dim,
            video_frames=args.video_len,
            audio_frames=args.audio_len,
        )
        lengths = {"text": 50, "video": args.video_len, "audio": args.audio_len}
        data = load_dataset("mintrec", folder, max_lengths=lengths)
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(args.encoder))
        collate = data.collator(tokenizer=tokenizer, pad_to="max_length")
        batch = collate([data["train"][i] for i in range(args.batch_size)])
    model_config = config.model_config(
        data.label_names(), data.feature_dims if features else {}, 384, 3
    )
    model = IntentModel(model_config)
    if model_config.needs_descriptions:
        mask = torch.ones(len(data.labels), 3, dtype=torch.bool)
        model.set_descriptions(torch.randn(len(data.labels), 3, 384), mask)
    model.to(device).train()
    optimizer, scheduler = make_optimizer(config, model, batches_per_epoch=100)
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    batch["text_inputs"] = {k: v.to(device) for k, v in batch["text_inputs"].items()}
    timing = time_steps(
        model, batch, optimizer, scheduler, device, warmup=args.warmup, steps=args.steps,
        max_grad_norm=config.max_grad_norm,
    )  # fmt: skip
    fusion_params = sum(p.numel() for p in model.fusion.parameters()) if model.fusion else 0
    return {
        "bench": "fusion_step",
        "variant": args.fusion,
        "fusion": config.model.fusion,
        "preset": config.preset,
        "options": variant(args.fusion)[1] or None,
        "loss_terms": sorted(model(batch).loss_parts),
        "device": str(device),
        "threads": args.threads,
        "encoder": config.encoder,
        "batch_size": args.batch_size,
        "text_len": 50,
        "video": [args.video_len, args.video_dim] if features else None,
        "audio": [args.audio_len, args.audio_dim] if features else None,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "fusion_params_m": round(fusion_params / 1e6, 2),
        **timing,
    }


@bench("fusion_step")
def fusion_steps(args: argparse.Namespace) -> Iterator[Row]:
    """Each fusion in its own process; rows carry the ratio to the text-only step."""
    fusions = ["none", *(f for f in args.fusions if f != "none")]
    text = None
    for fusion in fusions:
        argv = [sys.executable, __file__, "--child", "fusion_step", "--fusion", fusion]
        argv += _shared_argv(args)
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        text = row if fusion == "none" else text
        ratio = row["step_ms_median"] / text["step_ms_median"]
        row["over_text_step_time"] = round(ratio, 2)
        # the fastest step is the least disturbed by other work on a shared machine
        row["over_text_step_time_min"] = round(row["step_ms_min"] / text["step_ms_min"], 2)
        row["over_text_peak_memory"] = round(row["peak_memory_mb"] / text["peak_memory_mb"], 2)
        row["goal_step_time"] = STEP_GOAL
        row["met"] = ratio <= STEP_GOAL
        yield row


CHILDREN = {"fusion_step": measure_fusion_step}


def _shared_argv(args: argparse.Namespace) -> list[str]:
    """The options a child process needs to measure the same thing."""
    return [
        *("--steps", str(args.steps), "--warmup", str(args.warmup)),
        *("--threads", str(args.threads), "--encoder", args.encoder),
        *("--batch-size", str(args.batch_size), "--device", args.device),
        *("--video-len", str(args.video_len), "--video-dim", str(args.video_dim)),
        *("--audio-len", str(args.audio_len), "--audio-dim", str(args.audio_dim)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="benches, comma-separated")
    parser.add_argument(
        "--fusions", help="comma-separated (default: every registered fusion + EXTRA_VARIANTS)"
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--video-len", type=int, default=180)
    parser.add_argument("--video-dim", type=int, default=256)
    parser.add_argument("--audio-len", type=int, default=400)
    parser.add_argument("--audio-dim", type=int, default=768)
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--fusion", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fusions is None:
        from labelsync.model.fusion import FUSIONS

        args.fusions = [*FUSIONS, *EXTRA_VARIANTS]
    else:
        args.fusions = [f.strip() for f in args.fusions.split(",") if f.strip()]
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)), flush=True)
        return
    unknown = sorted(set(args.only.split(",")) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench {unknown[0]!r} (benches: {', '.join(BENCHES)})")
    for name in args.only.split(","):
        for row in BENCHES[name](args):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
