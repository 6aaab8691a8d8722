"""The `vmaftune` command line: one module per command, joined here. `main()` maps every
error to one line on stderr and a documented exit code (see vmaftune.errors)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer

try:  # Typer >= 0.26 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older Typer on real click
    from click import ClickException  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]

from vmaftune import __version__
from vmaftune.cli import (
    corpus,
    doctor,
    encode,
    encoders,
    ladder,
    models,
    probe,
    report,
    roi,
    score,
    shards,
    shots,
)
from vmaftune.cli.common import Settings
from vmaftune.errors import (
    InternalError,
    Interrupted,
    OutputError,
    Terminated,
    UsageError,
    VmaftuneError,
)
from vmaftune.zoo import registry as zoo
from vmaftune.zoo import signatures

app = typer.Typer(
    name="vmaftune",
    help="Per-shot target-quality encoding with FFmpeg and libvmaf.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vmaftune {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    ffmpeg: Annotated[
        str | None,
        typer.Option(
            "--ffmpeg",
            help="FFmpeg binary to run (default: $VMAFTUNE_FFMPEG, else the bundled static "
            "FFmpeg 9.0.2).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log commands; show details of errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
    require_signed: Annotated[
        bool,
        typer.Option(
            "--require-signed",
            help="Refuse any model (by id or path) whose signature does not verify with a "
            "trusted key (also $VMAFTUNE_REQUIRE_SIGNED=1).",
        ),
    ] = False,
    trusted_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--trusted-key",
            help="A public key (PEM) to trust beside the zoo's, e.g. your own for models "
            "you retrained and signed; repeatable.",
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="Zoo model precision: fp32, int8 (a model's INT8 variant where the registry "
            "has one within its accuracy budget; others stay fp32) or auto (INT8 only where "
            "measured faster; the default; also $VMAFTUNE_PRECISION).",
        ),
    ] = None,
) -> None:
    # The model loader reads these from the environment, as children of this process do.
    if require_signed:
        os.environ[signatures.ENV_REQUIRE] = "1"
    if trusted_key:
        known = [p for p in os.environ.get(signatures.ENV_KEYS, "").split(os.pathsep) if p]
        os.environ[signatures.ENV_KEYS] = os.pathsep.join([*known, *map(str, trusted_key)])
    if precision is not None:
        if precision.lower() not in zoo.PRECISIONS:
            raise UsageError(f"--precision {precision}: use one of {', '.join(zoo.PRECISIONS)}")
        os.environ[zoo.ENV_PRECISION] = precision.lower()
    ctx.obj = Settings(ffmpeg_path=ffmpeg, verbose=verbose)
    if ffmpeg is not None:
        ctx.obj.ffmpeg()  # a bad --ffmpeg fails here, even for commands that need no FFmpeg
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="vmaftune: %(message)s", force=True)


app.command("doctor")(doctor.command)
app.command("encoders")(encoders.command)
app.command("probe")(probe.command)
app.command("score")(score.command)
app.command("shots")(shots.command)
app.command("encode")(encode.command)
app.command("ladder")(ladder.command)
app.command("report")(report.command)
app.command("roi")(roi.command)
app.command("plan")(shards.plan_command)
app.command("run")(shards.run_command)
app.command("join")(shards.join_command)
app.add_typer(models.app, name="models")
app.add_typer(corpus.app, name="corpus")


def _say(text: str) -> None:
    # A plain write: rich would wrap a long message over several lines.
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (outputs under temporary names are removed, running
    children are killed) instead of ending the process where it stands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; nothing escapes as a traceback."""
    kept = (signatures.ENV_REQUIRE, signatures.ENV_KEYS, zoo.ENV_PRECISION)
    with _sigterm_raises(), _environment_kept(*kept):
        return _run(argv)


@contextlib.contextmanager
def _environment_kept(*names: str) -> Iterator[None]:
    """Global options set variables for this command only (run() is also called many
    times in one process, by tests and by Python callers)."""
    saved = {n: os.environ.get(n) for n in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or "-v" in args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="vmaftune", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ClickException as exc:
        _say(f"vmaftune: error: {exc.format_message()} (see --help)")
        return 2
    except (typer.Abort, KeyboardInterrupt, Interrupted):
        _say("vmaftune: interrupted")
        return 130
    except Terminated:
        _say("vmaftune: terminated")
        return 143
    except VmaftuneError as exc:
        _say(f"vmaftune: error: {exc.message}")
        if verbose and exc.detail:
            _say(exc.detail)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # vmaftune's own reads and writes (sidecars, journal, segments): one line naming
        # the file, whatever the cause.
        where = f"{exc.filename}: " if exc.filename else ""
        cause = exc.strerror or str(exc) or type(exc).__name__
        hint = {
            errno.ENOSPC: ": free some space and run again",
            errno.EDQUOT: ": free some space and run again",
            errno.EFBIG: ": the file size limit (ulimit -f) was reached",
        }.get(exc.errno or 0, "")
        _say(f"vmaftune: error: {where}{cause}{hint}")
        return OutputError.exit_code
    except Exception as exc:
        _say(f"vmaftune: internal error: {type(exc).__name__}: {exc}")
        if verbose:
            _say("".join(traceback.format_exception(exc)).rstrip())
        return InternalError.exit_code
    if result == 130:  # Typer turns Ctrl-C into a returned 130; no command returns one
        _say("vmaftune: interrupted")
    return int(result) if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
