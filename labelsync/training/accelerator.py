"""The hardware side of a run: the ``accelerate.Accelerator`` and the progress bars."""

from __future__ import annotations

from typing import Any

from .._progress import progress_bars
from .arguments import TrainConfig

__all__ = ["make_accelerator", "progress_bars"]


def make_accelerator(config: TrainConfig) -> Any:
    """The ``Accelerator`` of a run: launcher-given processes, precision, accumulation, compile.

    Under ``accelerate launch`` or ``torchrun`` the process group comes from the environment
    (gloo on CPU, NCCL on GPUs); a plain ``python`` run is one process.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    return Accelerator(
        cpu=config.cpu,
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        dynamo_backend="inductor" if config.compile else None,
    )
