"""The one subprocess wrapper: every child gets a null stdin, dies with its parent, and a
failure carries the command line and the tail of stderr.

Every running child is known here, so an interrupted run can stop them all at once
(`stop_all`): the children are killed, and no new one starts until `resume`."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vmaftune.edges.outputs import destination
from vmaftune.errors import Interrupted, OutputError, ProcessError, ToolError, VmaftuneError

log = logging.getLogger("vmaftune")

STDERR_TAIL_LINES = 20

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def stop_all() -> None:
    """Kill every running child and refuse new ones (an interrupt)."""
    _stopping.set()
    with _live_lock:
        for proc in list(_live):
            with contextlib.suppress(OSError):
                proc.kill()


def resume() -> None:
    """Children may start again (the interrupted run has unwound)."""
    _stopping.clear()


def _start(argv: Sequence[str], what: str, **popen: object) -> subprocess.Popen[bytes]:
    with _live_lock:
        if _stopping.is_set():
            raise Interrupted(f"{what}: not started, the run was interrupted")
        try:
            proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
                list(argv), preexec_fn=_PREEXEC, **popen
            )
        except FileNotFoundError as exc:
            raise ToolError(f"{what}: cannot run {argv[0]}: not found") from exc
        except PermissionError as exc:
            raise ToolError(f"{what}: cannot run {argv[0]}: permission denied") from exc
        _live.add(proc)
        return proc


def _finish(proc: subprocess.Popen[bytes], what: str) -> None:
    """Forget a child; one killed by `stop_all` makes its step raise Interrupted."""
    with _live_lock:
        _live.discard(proc)
    if _stopping.is_set() and proc.returncode != 0:
        raise Interrupted(f"{what}: stopped, the run was interrupted")


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: a killed vmaftune must not leave an encoder running.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if not env:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


_PREEXEC = _die_with_parent if sys.platform.startswith("linux") else None


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# A write that failed with less than this free beside it failed because the disk is full.
NEARLY_FULL = 1 << 20


def _failure(
    what: str, argv: Sequence[str], returncode: int, stderr: str, writes: Path | None = None
) -> VmaftuneError:
    failed = ProcessError(f"{what} failed: {_cause(returncode, stderr)}", argv, returncode,
                          _tail(stderr))  # fmt: skip
    full = _write_limit(returncode, destination(writes)) if writes is not None else None
    if full is None:
        return failed
    return OutputError(full, detail=failed.detail)


def _cause(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}" + (f" ({last_line(stderr)})" if last_line(stderr) else "")
    return last_line(stderr) or f"exit status {returncode}"


def _write_limit(returncode: int, writes: Path) -> str | None:
    """Why a child writing `writes` failed, when it is the file system's limit: the file
    size limit (the child dies of SIGXFSZ) or a full disk (measured, not read from the
    child's words). None otherwise."""
    if returncode == -signal.SIGXFSZ:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return (
            f"{writes}: the file size limit (ulimit -f, {limit} bytes) stopped the write; "
            "raise it and run again"
        )
    folder = next((f for f in (writes, *writes.parents) if f.is_dir()), None)
    if folder is None:
        return None
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free >= NEARLY_FULL:
        return None
    return (
        f"{writes}: no space left on the device ({free} bytes free): free some space and run again"
    )


def last_line(text: str) -> str:
    """The last non-empty line of a tool's stderr, for one-line messages."""
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()
    return ""


def run(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float | None = None,
    writes: Path | None = None,
) -> Completed:
    """Run to completion, capturing both streams. `what` names the step for messages;
    `writes` the file the child writes, so a full disk or the file size limit is named as
    the cause."""
    log.debug("run: %s", shlex.join(argv))
    proc = _start(argv, what, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, env=_environment(env), cwd=cwd)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise ToolError(f"{what}: {argv[0]} did not finish within {timeout:g} s") from exc
    finally:
        if proc.poll() is None:  # interrupted while waiting: the child goes too
            proc.kill()
            proc.wait()
        _finish(proc, what)
    out = stdout.decode("utf-8", errors="replace")
    err = stderr.decode("utf-8", errors="replace")
    if check and proc.returncode != 0:
        raise _failure(what, argv, proc.returncode, err, writes)
    return Completed(tuple(argv), proc.returncode, out, err)


def stream_lines(
    argv: Sequence[str],
    *,
    what: str,
    on_line: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    feed: Callable[[IO[bytes]], None] | None = None,
    writes: Path | None = None,
) -> Completed:
    """Run, handing each stdout line to `on_line` as it arrives (FFmpeg's `-progress
    pipe:1`). With `feed`, the child's stdin is a pipe that `feed` writes on a thread (a
    video piped in); when `feed` raises, the child is killed before its stdin closes, so
    it never sees a clean end of a cut-short stream, and the feed's error is raised."""

    def consume(stdout: IO[bytes]) -> None:
        for line in _decoded(stdout):
            on_line(line)

    return _stream(argv, what=what, consume=consume, env=env, cwd=cwd, feed=feed, writes=writes)


def stream_bytes(
    argv: Sequence[str],
    *,
    what: str,
    sink: IO[bytes],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run, copying stdout into `sink` (one child feeding another through vmaftune)."""

    def consume(stdout: IO[bytes]) -> None:
        while chunk := stdout.read(1 << 20):
            sink.write(chunk)

    return _stream(argv, what=what, consume=consume, env=env, cwd=cwd)


def stream_records(
    argv: Sequence[str],
    *,
    what: str,
    size: int,
    on_record: Callable[[bytes], None],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run, handing stdout to `on_record` in fixed-size records (raw video frames); a short
    tail is dropped."""

    def consume(stdout: IO[bytes]) -> None:
        while len(record := stdout.read(size)) == size:
            on_record(record)

    return _stream(argv, what=what, consume=consume, env=env, cwd=cwd)


def _stream(
    argv: Sequence[str],
    *,
    what: str,
    consume: Callable[[IO[bytes]], None],
    env: Mapping[str, str] | None,
    cwd: Path | None,
    feed: Callable[[IO[bytes]], None] | None = None,
    writes: Path | None = None,
) -> Completed:
    """stderr is drained on a thread so neither pipe can fill and block."""
    log.debug("run: %s", shlex.join(argv))
    proc = _start(argv, what, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment(env),
                  cwd=cwd)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    err_lines: collections.deque[str] = collections.deque(maxlen=200)
    stderr = proc.stderr

    def drain() -> None:
        for raw in stderr:
            err_lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    feed_failed: list[BaseException] = []
    feeder = None
    if feed is not None:
        assert proc.stdin is not None
        stdin = proc.stdin

        def pump() -> None:
            try:
                feed(stdin)
            except BrokenPipeError:
                pass  # the child stopped reading: its own exit status tells why
            except BaseException as exc:
                feed_failed.append(exc)
                proc.kill()
            finally:
                with contextlib.suppress(OSError):
                    stdin.close()

        feeder = threading.Thread(target=pump, daemon=True)
        feeder.start()
    try:
        consume(proc.stdout)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if feeder is not None:
            feeder.join()
        drainer.join(timeout=5)
        _finish(proc, what)
    if feed_failed:
        raise feed_failed[0]
    err = "\n".join(err_lines)
    if proc.returncode != 0:
        raise _failure(what, argv, proc.returncode, err, writes)
    return Completed(tuple(argv), proc.returncode, "", err)


def _decoded(stream: IO[bytes]) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("utf-8", errors="replace").rstrip("\n")
