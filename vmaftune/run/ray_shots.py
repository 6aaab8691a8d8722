"""Shots decided as Ray tasks (`--executor ray`): one task per shot, on whichever node of
the cluster has a free CPU; the driver joins, scores and writes as a local run does.

Each task decides its shot in the shot's own work folder (vmaftune.work.pershot) under
the run's work folder, which every node must see at the same path (a shared mount): the
source is read and the segments are written there, and only the shot's result (a few kB)
comes back through Ray. A task whose worker dies is retried by Ray; its shot's journal
keeps every trial that finished, so the retry measures only what is missing. A driver
that is killed and started again decides every finished shot from its journal without a
task. Ray's object store is not used for video: see docs/farm.md.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import Interrupted, ToolError, UsageError, VmaftuneError
from vmaftune.run.events import Emit, ShotDone, ShotStart, TrialDone, ignore
from vmaftune.run.shots import decide_alone
from vmaftune.steps.decide import Decision, ShotResult
from vmaftune.steps.shots import Shot
from vmaftune.steps.trial import Job
from vmaftune.work.pershot import PerShot

# A worker lost mid-shot (node gone, process killed) is retried this many times.
RETRIES = 3


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--executor ray needs Ray: pip install 'vmaftune[ray]'") from exc
    return ray


def _shot_task(
    ffmpeg: FFmpeg, job: Job, shot: Shot, per_shot: PerShot, decision: Decision,
    keep_trials: bool,
) -> ShotResult:  # fmt: skip
    """What a Ray worker runs: one shot, start to finish, in its own folder."""
    return decide_alone(ffmpeg, job, shot, per_shot, decision, ignore, keep_trials)


def _check_address(address: str | None) -> None:
    """A wrong address fails here at once: Ray itself waits a minute or more for a GCS
    that is not there, printing warnings."""
    if address in (None, "auto"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--ray-address must be host:port or auto, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ToolError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
        ) from exc


@contextlib.contextmanager
def joined(executor: str, address: str | None) -> Iterator[None]:
    """Connected to the cluster for a whole `--executor ray` run, from before any work, so
    a cluster that cannot be reached costs nothing but one line."""
    if executor != "ray":
        yield
        return
    disconnect = connect(address)
    try:
        yield
    finally:
        disconnect()


def connect(address: str | None) -> Callable[[], None]:
    """Join the cluster at `address` (None: $RAY_ADDRESS, else start Ray here); returns
    what undoes it."""
    _check_address(address)
    ray = _ray()
    if ray.is_initialized():
        return lambda: None
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a new local Ray instance"
        raise ToolError(f"cannot connect to Ray at {where}: {exc}") from exc
    return ray.shutdown  # type: ignore[no-any-return]


def ray_shots(
    ffmpeg: FFmpeg, job: Job, shots: Sequence[Shot], per_shot: PerShot,
    decision: Callable[[Shot], Decision], *, address: str | None, emit: Emit,
    keep_trials: bool = False,
) -> list[ShotResult]:  # fmt: skip
    ray = _ray()
    results: dict[int, ShotResult] = {}
    pending = [s for s in shots if not per_shot.finished(s)]
    for shot in shots:
        if shot not in pending:
            # Finished by an earlier run: replayed from its journal, nothing encoded.
            results[shot.index] = decide_alone(ffmpeg, job, shot, per_shot, decision(shot),
                                               emit, keep_trials)  # fmt: skip
    if pending:
        disconnect = connect(address)
        try:
            _run_tasks(ray, ffmpeg, job, pending, per_shot, decision, emit, keep_trials,
                       results)  # fmt: skip
        finally:
            disconnect()
    return [results[s.index] for s in shots]


def _run_tasks(
    ray: Any, ffmpeg: FFmpeg, job: Job, pending: list[Shot], per_shot: PerShot,
    decision: Callable[[Shot], Decision], emit: Emit, keep_trials: bool,
    results: dict[int, ShotResult],
) -> None:  # fmt: skip
    task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_shot_task)
    refs: dict[Any, Shot] = {}
    # Longest first, as locally: the last tasks to finish are short ones.
    for shot in sorted(pending, key=lambda s: (-s.frames, s.index)):
        emit(ShotStart(shot))
        refs[task.remote(ffmpeg, job, shot, per_shot, decision(shot), keep_trials)] = shot
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            shot = refs.pop(ready[0])
            result = _result(ray, ready[0], shot)
            for trial in result.trials:
                emit(TrialDone(shot, trial))
            emit(ShotDone(result))
            results[shot.index] = result
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise


def _result(ray: Any, ref: Any, shot: Shot) -> ShotResult:
    try:
        return ray.get(ref)  # type: ignore[no-any-return]
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if hasattr(exc, "cause") else None
        if isinstance(cause, VmaftuneError):
            raise cause from None
        raise ToolError(f"shot {shot.index}: its Ray task failed: {exc}") from exc
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
        raise ToolError(f"shot {shot.index}: its Ray worker died {RETRIES + 1} times") from exc
    except ray.exceptions.TaskCancelledError as exc:
        raise Interrupted(f"shot {shot.index}: its Ray task was cancelled") from exc
