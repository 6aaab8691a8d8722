"""Interrupting a run the hard way: the resume checks of tests and benchmarks share it."""

from __future__ import annotations

import json
import os
import signal
import subprocess


def kill_after_probes(argv: list[str], count: int) -> list[tuple[int, float]]:
    """Start `argv` (a vmaftune command with --json), SIGKILL its whole process group once
    `count` probes have finished, and return those probes as (shot, setting)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    finished: list[tuple[int, float]] = []
    for line in proc.stdout:
        event = json.loads(line)
        if event["type"] == "probe-done":
            finished.append((event["shot"], event["setting"]))
            if len(finished) == count:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    return finished
