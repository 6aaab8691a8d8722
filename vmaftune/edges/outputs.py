"""Outputs are written under a temporary name beside their final path and renamed into
place only when complete, so a failure never leaves a partial file or destroys data."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from vmaftune.errors import OutputError, UsageError


def check_output(output: Path, inputs: Iterable[Path], *, force: bool) -> None:
    """Refuse outputs that would overwrite an input, exist without --force, or lie in a
    folder we cannot write."""
    for source in inputs:
        # samefile also catches hard links and symlinks to the input.
        # realpath, not resolve(): a link loop is the input check's to report.
        same = os.path.realpath(output) == os.path.realpath(source) or (
            output.exists() and source.exists() and output.samefile(source)
        )
        if same:
            raise UsageError(f"{output}: is the input; choose another output path")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give a file name")
    if output.exists() and not force:
        raise OutputError(f"{output}: exists; pass --force to replace it")
    _check_writable(output.parent)


def _check_writable(folder: Path) -> None:
    if not folder.exists():
        raise OutputError(f"{folder}: output folder does not exist")
    if not folder.is_dir():
        raise OutputError(f"{folder}: is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".vmaftune-write-test-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write there ({exc.strerror or exc})") from exc
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path in the output's folder with the same suffix (FFmpeg picks the
    muxer from it); rename it onto `output` if the block succeeds, remove it otherwise."""
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{output.stem}.", suffix=f".partial{output.suffix}", dir=output.parent
        )
    except OSError as exc:
        raise OutputError(f"{output.parent}: cannot write there ({exc.strerror or exc})") from exc
    os.close(fd)
    tmp = Path(name)
    # mkstemp makes the file private (0600); give it the mode a plain create would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def destination(path: Path) -> Path:
    """The name a temporary file of atomic_output stands for (`.out.1a2b3c4d.partial.mp4`
    is `out.mp4`), for messages; any other path as it is."""
    m = re.fullmatch(r"\.(.+)\.[^.]{8}\.partial(\.[^.]*)?", path.name)
    return path.with_name(m.group(1) + (m.group(2) or "")) if m else path


def check_folder(output: Path, inputs: Iterable[Path], *, force: bool) -> None:
    """Refuse an output folder that holds an input, or that has content without --force."""
    for source in inputs:
        if Path(os.path.realpath(source)).is_relative_to(os.path.realpath(output)):
            raise UsageError(f"{output}: holds the input; choose another output folder")
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise OutputError(f"{output}: exists and is not empty; pass --force to replace it")
    _check_writable(output.parent)


@contextlib.contextmanager
def atomic_folder(output: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `output`; when the block succeeds it takes the
    place of `output` (an old one is removed only after the new one is in place)."""
    try:
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
        )
    except OSError as exc:
        raise OutputError(f"{output.parent}: cannot write there ({exc.strerror or exc})") from exc
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = None
        if output.exists():
            old = output.parent / f"{tmp.name}.old"
            os.replace(output, old)
        os.replace(tmp, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """One run at a time per output: a second run on the same OUT (or ladder folder) stops
    at once, naming the holder. The lock is an flock on a hidden file beside OUT, so one
    left by a killed run is free again: the kernel drops it with its holder."""
    path = output.parent / f".{output.name}.vmaftune-lock"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{output.parent}: cannot write there ({exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{output}: another vmaftune run (PID {holder}) is writing it; "
                "wait for it to finish or stop it"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed it as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        _remove_stale(output)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _remove_stale(output: Path) -> None:
    """Temporary files and folders of this output (and its sidecars) that a killed run
    left behind: whoever holds the output's lock knows no live run owns them."""
    # tempfile's names: the prefix, eight random characters, the suffix.
    patterns = (
        f".{output.stem}.????????.partial{output.suffix}",  # OUT (atomic_output)
        f".{output.name}.shots.????????.partial.*",  # its sidecars
        f".{output.name}.????????.partial",  # a ladder folder (atomic_folder)
        f".{output.name}.????????.partial.old",
    )
    for pattern in patterns:
        for stale in output.parent.glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
