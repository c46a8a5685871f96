"""Multi-process CPU runs under ``accelerate launch --cpu --num_processes N``.

Accelerate's CPU launcher starts *one* process unless it is given an MPI hostfile: the
``--num_processes`` flag is silently dropped. When labelsync finds itself in that situation
(``ACCELERATE_USE_CPU`` set by the launcher, no ``WORLD_SIZE``, and the parent ``accelerate
launch`` asked for more than one process) it hands the command to ``torch.distributed.run``
(torchrun) with that many processes; the process group then runs over gloo. Any other launch
(torchrun, ``accelerate launch --multi_gpu``, mpirun, plain ``python``) is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys


def requested_cpu_processes(parent_argv: list[str]) -> int:
    """``--num_processes N`` of an ``accelerate launch`` command line (1 when absent).

    Both ``accelerate launch ...`` and ``python -m accelerate.commands.launch ...`` count.
    """
    head = [os.path.basename(token) for token in parent_argv[:4]]
    launcher = any("accelerate" in token for token in head) and any(
        token == "launch" or token.endswith(".launch") for token in head
    )
    if not launcher:
        return 1
    for i, token in enumerate(parent_argv):
        for flag in ("--num_processes", "--num-processes"):
            if token == flag and i + 1 < len(parent_argv):
                value = parent_argv[i + 1]
            elif token.startswith(flag + "="):
                value = token.split("=", 1)[1]
            else:
                continue
            return int(value) if value.isdigit() else 1
    return 1


def cpu_relaunch_size() -> int:
    """How many processes an ``accelerate launch --cpu`` parent wanted but did not start."""
    if os.environ.get("WORLD_SIZE") or os.environ.get("ACCELERATE_USE_CPU", "").lower() != "true":
        return 1
    try:
        import psutil

        parent = psutil.Process(os.getppid()).cmdline()
    except Exception:  # noqa: BLE001 - no parent information: run as launched
        return 1
    return requested_cpu_processes(parent)


def relaunch_with_torchrun(processes: int, argv: list[str]) -> int:
    """Run ``labelsync ARGV`` as ``processes`` gloo processes through torchrun; its exit code."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        "-m",
        "labelsync",
        *argv,
    ]
    print(
        f"note: accelerate launch --cpu starts a single process; running {processes} CPU "
        "processes through torchrun (gloo) instead",
        file=sys.stderr,
        flush=True,
    )
    return subprocess.call(command)
