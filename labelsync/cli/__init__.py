"""The ``labelsync`` command line: thin typer commands over the Python API.

This is the only place that sets up logging output. Exit codes: 0 success, 2 bad usage, 1 a
failure explained in one line (a traceback only with ``--debug``), 130 interrupted.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

try:  # recent typer vendors click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from ..errors import LabelsyncError

app = typer.Typer(
    name="labelsync",
    help="LLM-assisted label semantics and multimodal intent recognition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Modules under labelsync/cli/ that register commands on `app` when imported.
_COMMAND_MODULES = ["describe", "data", "store", "train", "evaluate", "features"]


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    debug: bool = typer.Option(False, "--debug", help="Debug logs and full tracebacks."),
) -> None:
    """labelsync: labels -> descriptions -> label store -> model -> predictions."""
    setup_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)


def setup_logging(level: int) -> None:
    from rich.logging import RichHandler

    from .render import stderr_console

    if int(os.environ.get("RANK", "0") or 0) > 0:  # under a launcher, only rank 0 narrates
        level = max(level, logging.ERROR)
    handler = RichHandler(console=stderr_console(), show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from .launch import cpu_relaunch_size, relaunch_with_torchrun

    processes = cpu_relaunch_size(argv)
    if processes > 1:
        sys.exit(relaunch_with_torchrun(processes, argv))
    _register_commands()
    try:
        # Not standalone: errors reach the handlers below; an Exit comes back as its code
        # (typer turns Ctrl-C into exit code 130).
        code = app(args=argv, prog_name="labelsync", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except click_exceptions.ClickException as exc:  # bad usage: click's own message, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except LabelsyncError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # anything unexpected still gets one line without --debug
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        sys.exit(1)
    if code == 130:
        print("interrupted: work finished so far is kept", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        # Worker threads may sit in a network read for up to --timeout; everything finished
        # is already on disk (atomic writes from the main thread), so leave at once.
        os._exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
