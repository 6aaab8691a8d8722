"""A determinate rich progress bar on stderr, fed by FFmpeg's frame counter."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vmaftune.cli.common import err
from vmaftune.run.events import Progress as FFProgress


@contextlib.contextmanager
def frame_progress(label: str, total: int) -> Iterator[Callable[[FFProgress], None]]:
    """Yields the callback to hand to a runner; draws nothing when stderr is not a terminal
    (logs and CI stay clean)."""
    if not err.is_terminal:
        yield lambda _p: None
        return
    bar = Progress(
        TextColumn(f"{label:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(label, total=total)

    def update(p: FFProgress) -> None:
        bar.update(task, completed=min(p.frame, total) if not p.done else total)

    with bar:
        yield update
