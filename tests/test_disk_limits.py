"""A full disk, the file size limit and other file-system errors: one line naming the
file, exit 3, nothing left behind (issue 17, items 6 and 8)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs (a disk that fills) needs root"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 300 KiB file system: a few frames fit, an encode of a clip does not."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@needs_root
@pytest.mark.parametrize("per_shot", [False, True], ids=["plain", "per-shot"])
def test_a_full_disk_names_the_output(cli, bbb: Path, small_disk: Path, per_shot: bool) -> None:  # type: ignore[no-untyped-def]
    out = small_disk / "out.mp4"
    how = ("--target-vmaf", "95") if per_shot else ("--crf", "10")
    r = cli("encode", bbb, "-o", out, "-c", "x264", "--preset", "ultrafast", *how)
    assert r.code == 3, r.stderr
    (line,) = r.stderr.strip().splitlines()
    # Before: exit 4, "encode with x264 failed: ... Error closing file: No space left on device"
    assert "no space left on the device" in line and "free some space" in line
    assert f"{out}: " in line or f"{out}.vmaftune-work" in line, line
    assert not any(p.name.startswith(".out.") or p.name == "out.mp4" for p in small_disk.iterdir())


def test_the_file_size_limit_is_named(bbb: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    proc = subprocess.run(
        [sys.executable, "-m", "vmaftune", "encode", str(bbb), "-o", str(out), "-c", "x264",
         "--preset", "ultrafast", "--crf", "10"],
        capture_output=True, text=True, preexec_fn=limit, stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip
    # Before: exit 4, "encode with x264 failed: exit status -25"
    assert proc.returncode == 3, proc.stderr
    assert f"{out}: the file size limit (ulimit -f, 100000 bytes)" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["probe", "encode", "ladder", "score"])
def test_a_link_loop_or_a_pipe_is_one_line(cli, tmp_path: Path, command: str) -> None:  # type: ignore[no-untyped-def]
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    more = {
        "probe": (),
        "encode": ("-o", tmp_path / "o.mp4", "-c", "x264"),
        "ladder": ("-o", tmp_path / "lad", "-c", "x264"),
        "score": (loop,),
    }[command]
    # Before: a link loop gave "internal error: RuntimeError: Symlink loop", exit 5; a
    # pipe was "empty file (0 bytes)".
    r = cli(command, loop, *more)
    assert (
        r.code == 3
        and r.stderr.strip() == f"vmaftune: error: {loop}: Too many levels of symbolic links"
    )
    more = more if command != "score" else (pipe,)
    r = cli(command, pipe, *more)
    assert r.code == 3 and "not a regular file" in r.stderr and len(r.stderr.splitlines()) == 1
