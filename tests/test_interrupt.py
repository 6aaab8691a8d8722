"""Ctrl-C and SIGTERM stop a per-shot run: queued shots never start, running children are
killed, one line is printed, the exit code is 130 or 143, nothing is published, and the
journal lets the next run resume. Real signals to a real child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, ffmpeg_exe: str) -> Path:
    """Three one-second shots of unlike content (three hard cuts apart)."""
    path = tmp_path_factory.mktemp("interrupt") / "three.mp4"
    graph = ("testsrc2=s=320x240:r=25:d=1[a];mandelbrot=s=320x240:r=25[b0];"
             "[b0]trim=duration=1[b];cellauto=s=320x240:r=25:rule=18,format=yuv420p,"
             "trim=duration=1[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]")  # fmt: skip
    subprocess.run([ffmpeg_exe, "-v", "error", "-filter_complex", graph, "-map", "[v]",
                    "-c:v", "libx264", "-crf", "10", str(path)], check=True)  # fmt: skip
    return path


def slow_encodes(folder: Path, ffmpeg_exe: str) -> Path:
    """A real FFmpeg whose x264 encodes wait 3 s before they start: the signal sent after
    the first trial's start event then surely lands during that trial, however late a
    loaded machine lets this test read the event."""
    wrapper = folder / "ffmpeg-slow-encodes"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *libx264*) sleep 3 ;; esac\nexec "{ffmpeg_exe}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def start(src: Path, out: Path, ffmpeg: Path | None = None) -> subprocess.Popen[str]:
    wrapper = ["--ffmpeg", str(ffmpeg)] if ffmpeg else []
    argv = [sys.executable, "-m", "vmaftune", *wrapper, "encode", str(src), "-o", str(out),
            "-c", "x264", "--preset", "ultrafast", "--target-vmaf", "90", "--jobs", "1",
            "--min-shot", "0.5", "--json"]  # fmt: skip

    # SIGINT as a terminal leaves it: a shell that starts this suite in the background
    # hands its children SIGINT ignored, and Python then keeps ignoring it.
    def terminal_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, start_new_session=True,
                            preexec_fn=terminal_sigint)  # fmt: skip


def interrupt(proc: subprocess.Popen[str], sig: int, *, group: bool) -> tuple[list[dict], str]:
    """Send `sig` once the first trial has started; the events seen before and after."""
    assert proc.stdout is not None and proc.stderr is not None
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "probe-start":
            break
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    sent = time.monotonic()
    # When each later event was read, in seconds after the signal: a failure then tells a
    # signal handled late from events that were already on their way.
    for line in proc.stdout:
        events.append({**json.loads(line), "read_after_signal": round(time.monotonic() - sent, 2)})
    proc.wait(timeout=60)
    return events, proc.stderr.read()


@pytest.mark.parametrize(
    ("sig", "code", "said", "group"),
    [
        (signal.SIGINT, 130, "vmaftune: interrupted", True),  # Ctrl-C: the whole group
        (signal.SIGINT, 130, "vmaftune: interrupted", False),  # kill -INT to vmaftune alone
        (signal.SIGTERM, 143, "vmaftune: terminated", False),
    ],
)
def test_a_signal_stops_the_run_and_the_next_run_resumes(
    three: Path, tmp_path: Path, ffmpeg_exe: str, sig: int, code: int, said: str, group: bool
) -> None:
    out = tmp_path / "out.mp4"
    proc = start(three, out, slow_encodes(tmp_path, ffmpeg_exe))
    sent = time.monotonic()
    events, stderr = interrupt(proc, sig, group=group)
    stopped = time.monotonic() - sent
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == said and "Traceback" not in stderr
    # The first shot's first trial was running: nothing else started after the signal.
    starts = [e for e in events if e["type"] == "probe-start"]
    assert len(starts) == 1 and not any(e["type"] == "shot-done" for e in events), events
    assert stopped < 30  # not the minutes the three shots' searches take
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    work = tmp_path / "out.mp4.vmaftune-work"
    assert (work / "journal.sqlite").exists()
    # No encoder of ours is left running.
    left = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert left.stdout.strip() == ""
    # The next run resumes from that journal and finishes.
    again = start(three, out)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    done = [json.loads(line) for line in stdout.splitlines()][-1]
    assert done["type"] == "done" and done["shots"] == 3 and out.exists()


def test_a_second_run_on_the_same_out_stops_at_once(three: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.mp4"
    first = start(three, out)
    assert first.stdout is not None
    for line in first.stdout:
        if json.loads(line)["type"] == "probe-start":
            break
    args = ("encode", three, "-o", out, "-c", "x264", "--preset", "ultrafast", "-t", "90",
            "--jobs", "1", "--min-shot", "0.5")  # fmt: skip
    r = cli(*args)
    assert r.code == 3 and f"another vmaftune run (PID {first.pid})" in r.stderr
    assert "Traceback" not in r.stderr
    # A lock left by a killed run is free: the next run takes it and resumes.
    first.kill()
    first.wait(timeout=60)
    r = cli(*args)
    assert r.code == 0, r.stderr
    assert out.exists() and not list(tmp_path.glob(".*lock"))
