"""Step time of the `carat` and `hycon` presets against a text-only step, one JSON line each.

    python benchmarks/affect.py [--steps 10] [--batch-size 16] [--threads 1] [--device cpu|cuda]
                                [--encoder minilm]

One optimisation step (forward, backward, gradient clipping, AdamW) on one fixed batch of
random CMU-MOSI/MOSEI-shaped inputs (synthetic: text 50 tokens, aligned video/audio of 50
frames, widths as the MMSA releases: MOSEI video 35 / audio 74, MOSI video 47 / audio 74).
Variants, each the model its preset builds (``labelsync/presets/models``) with ``--encoder``:

- ``text-multi``: the text encoder + a linear sigmoid head, 6 labels (BCE): the baseline of
- ``carat``: the `carat` preset on text + video + audio, 6 emotions, and ``carat-text``: the
  same on text alone (10 labels, the MixCLINC setting; M = 1);
- ``text-regression``: the text encoder + a linear score head (MAE): the baseline of
- ``hycon``: the `hycon` preset (HyCon-v2) on text + video + audio.

Each variant runs in its own process (its own peak memory); the last lines are the ratios to
their text-only step (goal: <= 2x). The CARAT queue fills as in training, so later steps
contrast against up to ``queue_size`` stored embeddings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from step_timing import time_steps  # noqa: E402

TEXT_LEN, FRAMES = 50, 50
VARIANTS = {  # preset, task, labels, video dim, audio dim
    "text-multi": (None, "multi_label", 6, None, None),
    "carat": ("carat", "multi_label", 6, 35, 74),
    "carat-text": ("carat", "multi_label", 10, None, None),
    "text-regression": (None, "regression", 1, None, None),
    "hycon": ("hycon", "regression", 1, 47, 74),
}
RATIOS = {"carat": "text-multi", "carat-text": "text-multi", "hycon": "text-regression"}
GOAL = 2.0


def model_config(variant: str, encoder: str):
    """The preset's ``ModelConfig`` bound to the variant's labels and feature widths."""
    from labelsync.model import ModelConfig
    from labelsync.training.presets import preset_layers

    preset, task, labels, video, audio = VARIANTS[variant]
    options: dict = {}
    for layer in preset_layers(preset) if preset else []:
        options.update(layer.get("model", {}))
    options.pop("encoder", None)
    if preset is None:
        options.update(fusion="none", use_ss=False, use_label_attention=False)
    names = ["sentiment"] if task == "regression" else [f"label{i}" for i in range(labels)]
    options["task"] = task
    return ModelConfig(
        **options,
        encoder_name_or_path=encoder,
        label_names=names,
        video_dim=video,
        audio_dim=audio,
        max_text_len=TEXT_LEN,
        max_video_len=FRAMES,
        max_audio_len=FRAMES,
    )


def make_batch(config, batch_size: int, vocab: int):
    """Random inputs of the widths the config takes, real at every position."""
    import torch

    gen = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(1000, vocab, (batch_size, TEXT_LEN), generator=gen),
        "attention_mask": torch.ones(batch_size, TEXT_LEN, dtype=torch.long),
        "label_id": torch.zeros(batch_size, dtype=torch.long),
    }
    for name in config.modalities:
        dim = getattr(config, f"{name}_dim")
        batch[name] = torch.randn(batch_size, FRAMES, dim, generator=gen)
        batch[f"{name}_mask"] = torch.ones(batch_size, FRAMES, dtype=torch.bool)
    if config.task == "regression":
        batch["score"] = torch.rand(batch_size, generator=gen) * 6 - 3
    else:
        ids = torch.randint(0, config.num_labels, (batch_size, 2), generator=gen)
        ids[::2, 1] = -100  # every other sample has a single label
        batch["label_ids"] = ids
    return batch


def measure_step(args: argparse.Namespace) -> dict:
    """Median step time and peak memory of one variant (run in a child process)."""
    import torch

    from labelsync.model import IntentModel
    from labelsync.training import TrainConfig
    from labelsync.training.inputs import make_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    config = model_config(args.variant, args.encoder)
    model = IntentModel(config).to(device).train()
    batch = make_batch(config, args.batch_size, model.encoder.config.vocab_size)
    batch = {k: v.to(device) for k, v in batch.items()}
    train = TrainConfig(dataset="bench", encoder=args.encoder, learning_rate=5e-5)
    optimizer, scheduler = make_optimizer(train, model, batches_per_epoch=100)
    timing = time_steps(
        model, batch, optimizer, scheduler, device, warmup=args.warmup, steps=args.steps
    )
    return {
        "bench": "affect_step",
        "variant": args.variant,
        "preset": VARIANTS[args.variant][0] or "text",
        "task": config.task,
        "modalities": ["text", *config.modalities],
        "data": "synthetic (random CMU-MOSI/MOSEI-shaped inputs)",
        "device": str(device),
        "threads": args.threads,
        "encoder": args.encoder,
        "batch_size": args.batch_size,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        **timing,
    }


def run_variants(args: argparse.Namespace) -> None:
    """Each variant in a fresh process, then the step-time ratios to the text-only steps."""
    results = {}
    for name in VARIANTS:
        argv = [sys.executable, __file__, "--variant", name, *sys.argv[1:]]
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results[name]), flush=True)
    for name, base in RATIOS.items():
        ratio = results[name]["step_ms_median"] / results[base]["step_ms_median"]
        line = {
            "bench": "affect_step_ratio",
            "variant": name,
            "over": base,
            "step_time_ratio": round(ratio, 2),
            "goal": GOAL,
            "met": ratio <= GOAL,
        }
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encoder", default="minilm", help="text encoder (default: MiniLM)")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure_step(args)), flush=True)
    else:
        run_variants(args)


if __name__ == "__main__":
    main()
