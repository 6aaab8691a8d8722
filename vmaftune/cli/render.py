"""Events as the user sees them: NDJSON records on stdout (schema in docs/cli.md),
live per-shot state and progress bars on stderr."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from vmaftune.cli.common import emit, err
from vmaftune.cli.progress_view import frame_progress
from vmaftune.run.events import (
    Encoded,
    EncodeStart,
    Event,
    Note,
    Progress,
    Resuming,
    RungStart,
    ShotDone,
    ShotsFound,
    ShotStart,
    TrialDone,
    TrialStart,
    Unreachable,
)
from vmaftune.steps import sidecar
from vmaftune.steps.shots import Shot

_BAR_LABELS = {"encode": "encode", "score": "VMAF", "NR": "NR"}


def shot_record(event: Event) -> dict[str, Any] | None:
    """A per-shot event as its NDJSON object; None for other events."""
    match event:
        case ShotStart(shot=s):
            return {"type": "shot-start", "shot": s.index, "start_frame": s.start,
                    "end_frame": s.end, "start_time": round(s.start_time, 6),
                    "end_time": round(s.end_time, 6)}  # fmt: skip
        case TrialStart(shot=s, setting=v):
            return {"type": "probe-start", "shot": s.index, "setting": v}
        case TrialDone(shot=s, trial=t):
            return {"type": "probe-done", "shot": s.index, **sidecar.probe_record(t)}
        case ShotDone(result=r):
            rec = sidecar.shot_record(r)
            rec.pop("probes")
            return {"type": "shot-done", "shot": rec.pop("index"), **rec,
                    "probes": len(r.trials)}  # fmt: skip
    return None


class Renderer:
    """Hand it every event of a run; `close()` when the run ends. `progress_json` and
    `notes_json` add those events to the NDJSON stream (encode and ladder do)."""

    def __init__(self, *, as_json: bool, progress_json: bool = False, notes_json: bool = False):
        self.as_json = as_json
        self.progress_json = as_json and progress_json
        self.notes_json = as_json and notes_json
        self.shots: tuple[Shot, ...] = ()
        self.rung: str | None = None
        self.view: LiveView | None = None
        self.bar: tuple[str, AbstractContextManager[Any], Any] | None = None

    def __call__(self, event: Event) -> None:
        match event:
            case Resuming(work=path):
                if not self.as_json:
                    err.print(f"resuming from {path}", markup=False)
            case ShotsFound():
                self._shots_found(event)
            case RungStart(rung=rung):
                self.rung = rung.name
                self._json({"type": "rung-start", "rung": rung.name, "width": rung.width,
                            "height": rung.height, "target_vmaf": rung.vmaf})  # fmt: skip
                self._open_view(rung.name)
            case ShotStart() | TrialStart() | TrialDone() | ShotDone():
                if self.view:
                    self.view.update(event)
                record = shot_record(event)
                if record is not None:
                    self._json({**record, "rung": self.rung} if self.rung else record)
            case Progress():
                self._progress(event)
            case EncodeStart():
                self._json({"type": "encode-start", "input": str(event.input),
                            "output": str(event.output), "encoder": event.encoder,
                            event.knob: event.setting, "preset": event.preset,
                            "pix_fmt": event.pix_fmt, "frames": event.frames})  # fmt: skip
            case Encoded():
                self._json(encoded_record(event))
            case Note(text=text, kind=kind):
                if self.notes_json:
                    emit({"type": "note", "text": text})
                else:
                    err.print(f"{kind}: {text}", markup=False)
            case Unreachable():
                where = f"{event.rung} shot" if event.rung else "shot"
                err.print(f"warning: {where} {event.shot} cannot reach VMAF "
                          f"{event.target:g} with {event.encoder} (best {event.best:.2f})",
                          markup=False)  # fmt: skip

    def _json(self, record: dict[str, Any]) -> None:
        if self.as_json:
            emit(record)

    def _shots_found(self, event: ShotsFound) -> None:
        self.shots = event.shots
        record: dict[str, Any] = {"type": "shots", "count": len(event.shots),
                                  "frames": event.frames, "jobs": event.jobs}  # fmt: skip
        if event.rungs:
            record["rungs"] = list(event.rungs)
        else:
            record["resumed"] = event.resumed
            self._open_view("")
        self._json(record)

    def _open_view(self, label: str) -> None:
        self._close_view()
        self.view = LiveView(list(self.shots), enabled=err.is_terminal, label=label)
        self.view.__enter__()

    def _close_view(self) -> None:
        if self.view:
            self.view.__exit__()
            self.view = None

    def _progress(self, p: Progress) -> None:
        self._close_view()
        if self.progress_json:
            emit({"type": "progress", "stage": p.stage, "frame": p.frame, "total": p.total,
                  "out_time": p.out_time, "speed": p.speed})  # fmt: skip
        if self.bar is None or self.bar[0] != p.stage:
            self._close_bar()
            bar = frame_progress(_BAR_LABELS.get(p.stage, p.stage), p.total)
            self.bar = (p.stage, bar, bar.__enter__())
        self.bar[2](p)

    def _close_bar(self) -> None:
        if self.bar:
            self.bar[1].__exit__(None, None, None)
            self.bar = None

    def close(self) -> None:
        self._close_view()
        self._close_bar()


def encoded_record(e: Encoded) -> dict[str, Any]:
    return {"type": "encoded", "output": str(e.output), "bytes": e.bytes,
            "video_bitrate": round(e.video_bitrate), "frames": e.frames,
            "seconds": round(e.seconds, 3)}  # fmt: skip


class LiveView:
    """Per-shot state on stderr: running shots with their current trial, the count done,
    and an ETA from the frames finished so far."""

    def __init__(self, shots: list[Shot], *, enabled: bool, label: str = "") -> None:
        self.label = f"{label}: " if label else ""
        self.shots = {s.index: s for s in shots}
        self.total = sum(s.frames for s in shots)
        self.state: dict[int, str] = {}
        self.done_frames = 0
        self.done = 0
        self.started = time.monotonic()
        self.live = Live(console=err, transient=True, refresh_per_second=4) if enabled else None

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.__exit__(None, None, None)

    def update(self, event: Event) -> None:
        match event:
            case ShotStart(shot=s):
                self.state[s.index] = "starting"
            case TrialStart(shot=s, setting=v):
                self.state[s.index] = f"encoding {v:g}"
            case TrialDone(shot=s, trial=t):
                note = " (journal)" if t.resumed else ""
                score = f"{t.pooled.mean:.2f}" if t.pooled else "encoded (trusted)"
                self.state[s.index] = f"{t.setting:g} → {score}{note}"
            case ShotDone(result=r):
                self.state.pop(r.shot.index, None)
                self.done += 1
                self.done_frames += r.shot.frames
        if self.live:
            self.live.update(self.render())

    def render(self) -> Group:
        elapsed = time.monotonic() - self.started
        eta = ""
        if self.done_frames:
            rest = elapsed * (self.total - self.done_frames) / self.done_frames
            eta = f", about {rest:.0f} s left"
        head = Text(f"{self.label}shots {self.done}/{len(self.shots)}, {elapsed:.0f} s{eta}")
        table = Table(box=None, show_header=True)
        table.add_column("shot", justify="right")
        table.add_column("frames", justify="right")
        table.add_column("probe")
        for index, state in sorted(self.state.items()):
            table.add_row(str(index), str(self.shots[index].frames), state)
        return Group(head, table)
