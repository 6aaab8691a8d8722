"""`vmaftune report`: a sidecar or ladder drawn as one self-contained HTML page, and/or
its figures as PNG files. `encode --target-vmaf --report` and `ladder --report` write the
same page through `render_page`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.errors import OutputError, UsageError
from vmaftune.run.events import Emit, Run
from vmaftune.steps.report.document import Document, read


@dataclass(frozen=True)
class ReportRequest:
    input: Path  # OUT.shots.json, a ladder's ladder.json or folder, or OUT itself
    output: Path | None = None  # the HTML page
    png: Path | None = None  # a folder for one PNG per figure
    force: bool = False


@dataclass(frozen=True)
class ReportResult:
    source: Path  # the JSON drawn
    html: Path | None
    pngs: tuple[Path, ...]
    plots: tuple[str, ...]  # the figures' ids, in page order
    bytes: int  # the page's size


def report(request: ReportRequest) -> Run[ReportResult]:
    """Draw a sidecar or ladder as an HTML page and/or PNG files."""
    return Run(lambda emit: _run(request, emit))


def report_path(output: Path) -> Path:
    """Where `encode --target-vmaf --report` puts OUT's page."""
    return output.with_name(output.name + ".report.html")


def render_page(doc: Document) -> str:
    """The page's HTML. matplotlib is imported here, not at start-up: most commands never
    draw."""
    from vmaftune.steps.report import page, plots

    return page.render(doc, plots.figures(doc))


def _run(req: ReportRequest, emit: Emit) -> ReportResult:
    if req.output is None and req.png is None:
        raise UsageError("report needs -o PAGE.html, --png DIR, or both")
    doc = read(req.input)
    if req.output is not None:
        check_output(req.output, [doc.path], force=req.force)
    if req.png is not None:
        _check_png_folder(req.png)
    from vmaftune.steps.report import page, plots

    figures = plots.figures(doc)
    ids = tuple(p.id for p in figures)
    pngs = tuple(req.png / f"{i}.png" for i in ids) if req.png is not None else ()
    if req.png is not None and req.png.is_dir():
        for path in pngs:
            check_output(path, [doc.path], force=req.force)
    text = page.render(doc, figures) if req.output is not None else ""
    if req.png is not None:
        req.png.mkdir(exist_ok=True)
    # Every file under a temporary name first; all are renamed only when all are drawn.
    with contextlib.ExitStack() as stack:
        for figure, path in zip(figures, pngs, strict=False):
            figure.png(stack.enter_context(atomic_output(path)))
        if req.output is not None:
            stack.enter_context(atomic_output(req.output)).write_text(text, encoding="utf-8")
    return ReportResult(doc.path, req.output, pngs, ids, len(text.encode("utf-8")))


def _check_png_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is not a folder (--png takes a folder)")
    if not folder.exists() and not folder.parent.is_dir():
        raise OutputError(f"{folder.parent}: output folder does not exist")
