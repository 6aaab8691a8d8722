"""What a run reports as it goes, and `Run`: a job in progress.

Every job (vmaftune.run.once, .target, .ladder, .score) is a function of a typed request
that returns a `Run`. `run.wait(on_event)` runs the job in the calling thread, hands each
event to `on_event` and returns the job's typed result; iterating over the run instead
runs it in a worker thread and yields the events, and `run.result` holds the result
once the iteration ends. Events of one run arrive one at a time, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from vmaftune.edges.progress import Progress as FFProgress
from vmaftune.errors import InternalError
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.rungs import Rung
from vmaftune.steps.shots import Shot
from vmaftune.steps.trial import Trial


@dataclass(frozen=True)
class Resuming:
    work: Path  # the work folder whose journal the run continues


@dataclass(frozen=True)
class ShotsFound:
    shots: tuple[Shot, ...]
    frames: int  # the source's decoded frames
    jobs: int  # shots at once
    resumed: bool
    rungs: tuple[str, ...] = ()  # a ladder's rungs, tallest first


@dataclass(frozen=True)
class RungStart:
    rung: Rung


@dataclass(frozen=True)
class ShotStart:
    shot: Shot


@dataclass(frozen=True)
class TrialStart:
    shot: Shot
    setting: float


@dataclass(frozen=True)
class TrialDone:
    shot: Shot
    trial: Trial


@dataclass(frozen=True)
class ShotDone:
    result: ShotResult


@dataclass(frozen=True)
class Progress:
    """FFmpeg's progress through a pass over a whole file."""

    stage: str  # "encode", "VMAF", "NR"
    frame: int
    total: int
    out_time: float
    speed: float | None
    done: bool


@dataclass(frozen=True)
class EncodeStart:
    input: Path
    output: Path
    encoder: str
    knob: str  # the quality setting's name: crf, cq, global_quality
    setting: float
    preset: str
    pix_fmt: str
    frames: int


@dataclass(frozen=True)
class Encoded:
    output: Path
    bytes: int
    video_bitrate: float
    frames: int
    seconds: float


@dataclass(frozen=True)
class Note:
    text: str
    kind: str = "note"  # "note", "pre-filter"


@dataclass(frozen=True)
class Unreachable:
    """A shot that fails the target even at the encoder's best setting."""

    shot: int
    target: float
    encoder: str
    best: float  # its best score under the target's pooling
    rung: str | None = None


Event = (
    Resuming | ShotsFound | RungStart | ShotStart | TrialStart | TrialDone | ShotDone
    | Progress | EncodeStart | Encoded | Note | Unreachable
)  # fmt: skip
Emit = Callable[[Event], None]
R = TypeVar("R")


def progress_hook(stage: str, total: int, emit: Emit) -> Callable[[FFProgress], None]:
    """FFmpeg's progress through a whole-file pass, as Progress events."""

    def send(p: FFProgress) -> None:
        emit(Progress(stage, p.frame, total, p.out_time, p.speed, p.done))

    return send


def ignore(_event: Event) -> None:
    pass


class Run(Generic[R]):
    def __init__(self, work: Callable[[Emit], R]) -> None:
        self._work: Callable[[Emit], R] | None = work
        self._result: tuple[R] | None = None

    def _take(self) -> Callable[[Emit], R]:
        if self._work is None:
            raise InternalError("a run can be started once")
        work, self._work = self._work, None
        return work

    def wait(self, on_event: Emit | None = None) -> R:
        self._result = (self._take()(on_event or ignore),)
        return self._result[0]

    @property
    def result(self) -> R:
        if self._result is None:
            raise InternalError("the run has not finished")
        return self._result[0]

    def __iter__(self) -> Iterator[Event]:
        work = self._take()
        box: queue.Queue[tuple[str, object]] = queue.Queue()

        def body() -> None:
            try:
                box.put(("done", work(lambda e: box.put(("event", e)))))
            except BaseException as exc:  # handed to the iterating thread
                box.put(("error", exc))

        thread = threading.Thread(target=body, name="vmaftune-run", daemon=True)
        thread.start()
        try:
            while True:
                kind, item = box.get()
                if kind == "event":
                    yield item  # type: ignore[misc]
                elif kind == "error":
                    raise item  # type: ignore[misc]
                else:
                    self._result = (item,)  # type: ignore[assignment]
                    return
        finally:
            thread.join()
