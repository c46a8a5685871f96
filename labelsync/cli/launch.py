"""Multi-process CPU runs under ``accelerate launch [--cpu] --num_processes N``.

Without GPUs (or with ``--cpu``) accelerate's launcher starts *one* process unless it is given
an MPI hostfile: ``--num_processes`` is silently dropped. When a ``train`` or ``evaluate``
command finds itself in that situation (no ``WORLD_SIZE`` in the environment, and the parent
``accelerate launch`` asked for more than one process) it hands the command to
``torch.distributed.run`` (torchrun) with that many processes; the process group then runs
over gloo on CPUs. Any launch that did start the processes (torchrun, ``accelerate launch`` on
several GPUs, mpirun) has ``WORLD_SIZE`` set and is left alone, as is plain ``python``.
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


MULTI_PROCESS_COMMANDS = ("train", "evaluate")


def cpu_relaunch_size(argv: list[str]) -> int:
    """How many processes an ``accelerate launch`` parent wanted but did not start (1: none).

    Only commands that run a process group (``train``, ``evaluate``) are relaunched.
    """
    command = next((token for token in argv if not token.startswith("-")), None)
    if command not in MULTI_PROCESS_COMMANDS or os.environ.get("WORLD_SIZE"):
        return 1
    import psutil

    try:
        parent = psutil.Process(os.getppid()).cmdline()
    except (psutil.Error, OSError):  # the parent is gone or not ours to read: run as launched
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
        f"note: accelerate launch started a single process (its CPU launcher forks only "
        f"through mpirun); running {processes} processes through torchrun instead",
        file=sys.stderr,
        flush=True,
    )
    return subprocess.call(command)
