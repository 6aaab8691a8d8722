"""The report's figures, drawn with matplotlib: the same Figure becomes an inline SVG in
the page and a PNG with `--png`, so the two never disagree. Every mark that a reader (or
the browser test) counts carries an SVG id (`gid`): `frames-line`, `bits-bar-3`, ...

matplotlib rather than a JavaScript library: the page needs no script at view time, the
SVGs are static text that any browser draws at once, and one renderer serves both the
page and the PNGs. Long series are binned before drawing so that a 2-hour title stays a
few megabytes."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from vmaftune.steps.report.document import Document, pooled

# Okabe-Ito colours: told apart with the common colour-vision deficiencies.
VERDICT_COLOURS = {
    "SEARCH": "#0072B2",
    "GOSPEL": "#009E73",
    "RECALIBRATE": "#E69F00",
    "FALL_BACK": "#D55E00",
    "TRUSTED": "#CC79A7",
    "CAPPED": "#56B4E9",
    "UNREACHABLE": "#000000",
}
OTHER = "#777777"
FRAME_COLOUR = "#4a4a4a"
# At most this many points per frame series: above it, frames are binned (mean line,
# min-max band), which keeps a 170,000-frame title's plot to a few hundred kB.
MAX_FRAME_POINTS = 3000
# Search walks drawn one panel each, at most (the shots with the most trials beyond it).
MAX_WALKS = 24
# A ladder's trials get a marker each up to this many shots per rung; beyond, the
# vertices of their lines show them (13,500 markers would be half the page).
MAX_MARKED_SHOTS = 300
WIDTH = 11.0  # inches


@dataclass(frozen=True)
class Plot:
    id: str  # the section's id in the page and the PNG's file name
    title: str
    caption: str
    figure: Figure

    def svg(self) -> str:
        """The figure as an <svg> element (no XML prologue), its internal ids salted with
        the plot's id so that several figures can share one page."""
        buf = io.StringIO()
        with _style(self.id):
            self.figure.savefig(buf, format="svg", metadata={"Date": None})
        text = buf.getvalue()
        return text[text.index("<svg") :]

    def png(self, path: Path) -> None:
        with _style(self.id):
            self.figure.savefig(path, format="png", dpi=110)


@contextmanager
def _style(salt: str = "vmaftune") -> Iterator[None]:
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
            "svg.hashsalt": salt,  # deterministic ids, distinct per figure
            "path.simplify": False,  # every point drawn is a point of the data
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "axes.axisbelow": True,
            "grid.color": "#e4e4e4",
            "grid.linewidth": 0.6,
            "legend.frameon": False,
        }
    ):
        yield


def figures(doc: Document) -> list[Plot]:
    """Every figure of the report, in page order."""
    with _style():
        if doc.kind == "ladder":
            return [_rungs(doc.data), _rung_shots(doc.data)]
        return [_frames(doc.data), _bits(doc.data), _walks(doc.data)]


def _colour(verdict: str) -> str:
    return VERDICT_COLOURS.get(verdict, OTHER)


def _verdict_legend(
    ax: Any, verdicts: Sequence[str], extra: Sequence[Any] = (), loc: str = "outside upper left"
) -> None:
    seen = [v for v in VERDICT_COLOURS if v in verdicts]
    handles = [Line2D([], [], color=_colour(v), lw=3, label=v) for v in seen]
    everything = [*handles, *extra]
    ax.figure.legend(handles=everything, loc=loc, ncols=len(everything), fontsize=8)


def _frames(d: dict[str, Any]) -> Plot:
    shots, target = d["shots"], d["target"]
    pool = target["pool"]
    fps = d["source"]["frames"] / d["source"]["duration"] if d["source"]["duration"] else 1.0
    fig = Figure(figsize=(WIDTH, 3.8), layout="constrained")
    ax = fig.add_subplot()
    values = np.asarray(d["output"].get("frame_vmaf") or [], dtype=np.float64)
    lows = [float(target["vmaf"])]
    if values.size:
        step = max(1, math.ceil(values.size / MAX_FRAME_POINTS))
        starts = np.arange(0, values.size, step)
        t = (starts + (step - 1) / 2) / fps
        if step == 1:
            ax.plot(t, values, color=FRAME_COLOUR, lw=0.8, gid="frames-line", label="frame")
        else:
            mean = np.add.reduceat(values, starts) / np.diff(np.append(starts, values.size))
            low, high = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
            ax.fill_between(
                t,
                low,
                high,
                color=FRAME_COLOUR,
                alpha=0.25,
                lw=0,
                gid="frames-band",
                label=f"min-max of {step} frames",
            )
            ax.plot(
                t,
                mean,
                color=FRAME_COLOUR,
                lw=0.8,
                gid="frames-line",
                label=f"mean of {step} frames",
            )
        lows.append(float(np.percentile(values, 0.5)))
    segments, colours = [], []
    for s in shots:
        v = pooled(s["vmaf"], pool)
        if v is not None:
            segments.append([(s["start_time"], v), (s["end_time"], v)])
            colours.append(_colour(s["verdict"]))
            lows.append(v)
    ax.add_collection(
        LineCollection(segments, colors=colours, linewidths=2.2, gid="frames-shots", zorder=3)
    )
    cuts = [s["start_time"] for s in shots[1:]]
    if cuts:
        ax.vlines(
            cuts,
            0,
            1,
            transform=ax.get_xaxis_transform(),
            colors="#bbbbbb",
            linewidths=0.5,
            gid="frames-cuts",
            zorder=1,
        )
    ax.axhline(target["vmaf"], color="#009E73", ls="--", lw=1, gid="frames-target")
    ax.set_xlim(0, shots[-1]["end_time"])
    ax.set_ylim(max(0.0, min(lows) - 4), 100.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"VMAF ({target['model']})")
    extra = [Line2D([], [], color="#009E73", ls="--", lw=1, label=f"target {target['vmaf']:g}")]
    if values.size:
        extra.insert(0, Line2D([], [], color=FRAME_COLOUR, lw=0.8, label="per frame"))
    _verdict_legend(ax, [s["verdict"] for s in shots], extra)
    if values.size:
        shown = (
            "every frame"
            if values.size <= MAX_FRAME_POINTS
            else (
                f"frames in bins of {math.ceil(values.size / MAX_FRAME_POINTS)} (line: their "
                "mean; band: their min-max)"
            )
        )
        frames = f"OUT's VMAF against the source, {shown}"
    else:
        frames = "this sidecar holds no per-frame scores (written before they were kept)"
    caption = (
        f"{frames}; thick segments: each shot's {pool} VMAF scored alone, coloured "
        "by verdict (unscored TRUSTED shots have none); grey lines: shot starts."
    )
    return Plot("plot-frames", "VMAF over time", caption, fig)


def _bits(d: dict[str, Any]) -> Plot:
    shots = d["shots"]
    knob = d["encoder"]["setting"]
    index = np.array([s["index"] for s in shots])
    fig = Figure(figsize=(WIDTH, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.3, 1])
    bars = top.bar(
        index,
        [s["bytes"] * 8 / 1e6 for s in shots],
        color=[_colour(s["verdict"]) for s in shots],
        width=0.8,
    )
    for s, bar in zip(shots, bars, strict=True):
        bar.set_gid(f"bits-bar-{s['index']}")
    top.set_ylabel("Mbit per shot")
    _verdict_legend(top, [s["verdict"] for s in shots])
    xs = [s["index"] for s in shots for _ in s["probes"]]
    ys = [p["setting"] for s in shots for p in s["probes"]]
    bottom.plot(
        xs,
        ys,
        ls="none",
        marker="o",
        ms=3,
        color="#aaaaaa",
        gid="setting-trials",
        label="every trial",
    )
    bottom.plot(
        index,
        [s["setting"] for s in shots],
        ls="none",
        marker="D",
        ms=4,
        color="#222222",
        gid="setting-chosen",
        label="chosen",
    )
    bottom.set_ylabel(f"{knob} (lower: more bits)")
    bottom.set_xlabel("shot")
    bottom.legend(loc="upper right", fontsize=8, ncols=2)
    if len(shots) <= 40:
        bottom.set_xticks(index)
    caption = (
        f"Top: the bits of each shot's chosen encode, coloured by verdict. Bottom: the "
        f"{knob} chosen per shot and every setting tried on the way."
    )
    return Plot("plot-bits", "Bits and settings per shot", caption, fig)


def walk_shots(shots: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shots whose walks are drawn: all of them up to MAX_WALKS, else those with the
    most trials (ties: the earlier shot), in title order."""
    if len(shots) <= MAX_WALKS:
        return list(shots)
    ranked = sorted(shots, key=lambda s: (-len(s["probes"]), s["index"]))[:MAX_WALKS]
    return sorted(ranked, key=lambda s: s["index"])


def _walks(d: dict[str, Any]) -> Plot:
    shots, target = d["shots"], d["target"]
    pool, goal, tol = target["pool"], float(target["vmaf"]), float(target["tolerance"])
    chosen_shots = walk_shots(shots)
    cols = min(4, len(chosen_shots))
    rows = math.ceil(len(chosen_shots) / cols)
    fig = Figure(figsize=(WIDTH, 2.5 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    knob = d["encoder"]["setting"]
    for ax, s in zip(axes, chosen_shots, strict=False):
        _walk(ax, s, pool, goal, tol, knob)
    for ax in axes[len(chosen_shots) :]:
        ax.set_visible(False)
    which = (
        "every shot"
        if len(chosen_shots) == len(shots)
        else (f"the {len(chosen_shots)} shots (of {len(shots)}) with the most trials")
    )
    caption = (
        f"The search's walk for {which}: each trial numbered in the order it was "
        f"measured, with the kB it cost; ringed: the chosen trial; green band: "
        f"[target, target + tolerance]. With --mode predict, the predicted curve near "
        "the prediction and its interval (dashed, shaded)."
    )
    return Plot("plot-walks", "Search walks", caption, fig)


def _walk(ax: Any, s: dict[str, Any], pool: str, goal: float, tol: float, knob: str) -> None:
    i = s["index"]
    ax.axhspan(goal, goal + tol, color="#009E73", alpha=0.15, lw=0)
    probes = s["probes"]
    scored = [(p["setting"], pooled(p["vmaf"], pool), p["bytes"]) for p in probes]
    points = [(x, y, b) for x, y, b in scored if y is not None]
    xs = [p["setting"] for p in probes]
    prediction = s.get("prediction")
    if prediction:
        xs.append(prediction["setting"])
    lo, hi = min(xs) - 2, max(xs) + 2
    if prediction:
        x = np.linspace(lo, hi, 9)
        y = prediction["vmaf"] + prediction["slope"] * (x - prediction["setting"])
        half = (prediction["interval"][1] - prediction["interval"][0]) / 2
        ax.fill_between(x, y - half, y + half, color="#CC79A7", alpha=0.15, lw=0)
        ax.plot(x, y, color="#CC79A7", ls="--", lw=1, gid=f"walk-{i}-predicted")
        ax.plot(
            [prediction["setting"]],
            [prediction["vmaf"]],
            ls="none",
            marker="x",
            ms=7,
            color="#CC79A7",
            mew=1.5,
        )
    if points:
        px, py, _ = zip(*points, strict=True)
        ax.plot(px, py, color="#999999", lw=0.8, ls=":", zorder=2)
        ax.plot(
            px,
            py,
            ls="none",
            marker="o",
            ms=5,
            color=_colour(s["verdict"]),
            gid=f"walk-{i}-trials",
            zorder=3,
        )
        for n, (x_, y_, b) in enumerate(points, 1):
            ax.annotate(
                f"{n}: {b / 1000:.0f} kB",
                (x_, y_),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=7,
            )
    chosen = pooled(s["vmaf"], pool)
    if chosen is not None:
        ax.plot(
            [s["setting"]],
            [chosen],
            ls="none",
            marker="o",
            ms=11,
            mfc="none",
            mec="#222222",
            mew=1.2,
            gid=f"walk-{i}-chosen",
            zorder=4,
        )
    else:
        ax.text(
            0.5,
            0.5,
            f"not scored\n(encoded at {knob} {s['setting']:g})",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="#555555",
        )
    ys = [y for _, y, _ in points] + [goal, goal + tol]
    if prediction:
        ys += list(prediction["interval"])
    ax.set_ylim(min(ys) - 1.5, max(ys) + 1.5)
    ax.set_xlim(lo, hi)
    ax.set_title(
        f"shot {i} · {s['verdict']} · {knob} {s['setting']:g}",
        fontsize=9,
        color=_colour(s["verdict"]),
    )
    ax.set_xlabel(knob, fontsize=8)
    ax.set_ylabel("VMAF", fontsize=8)


def _log_x(ax: Any) -> None:
    """A log bitrate axis labelled 100, 200, 500 rather than 10^2."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _bitrate(s: dict[str, Any], nbytes: int) -> float:
    seconds = s["end_time"] - s["start_time"]
    return nbytes * 8 / seconds / 1000 if seconds > 0 else 0.0


def _rungs(d: dict[str, Any]) -> Plot:
    rungs = d["rungs"]
    fig = Figure(figsize=(WIDTH, 4.0), layout="constrained")
    ax = fig.add_subplot()
    x = [r["average_bandwidth"] / 1000 for r in rungs]
    ax.plot(
        x,
        [r["vmaf"]["mean"] for r in rungs],
        marker="o",
        color="#0072B2",
        gid="rungs-mean",
        label="mean VMAF",
    )
    ax.plot(
        x,
        [r["vmaf"]["lowest_shot"] for r in rungs],
        ls="none",
        marker="v",
        color="#D55E00",
        gid="rungs-lowest",
        label="lowest shot",
    )
    ax.plot(
        x,
        [r["target_vmaf"] for r in rungs],
        ls="none",
        marker="_",
        ms=18,
        mew=2,
        color="#009E73",
        gid="rungs-target",
        label="target",
    )
    for r, xi in zip(rungs, x, strict=True):
        ax.annotate(
            f"{r['name']} ({r['width']}x{r['height']})",
            (xi, r["vmaf"]["mean"]),
            xytext=(6, -12),
            textcoords="offset points",
            fontsize=8,
        )
    _log_x(ax)
    ax.set_xlabel("average bitrate (kb/s, log)")
    ax.set_ylabel(f"VMAF ({d['target']['model']}, pooled {d['target']['pool']})")
    ax.legend(loc="lower right")
    caption = (
        "Each rung at its average bitrate (as in the master playlist): the "
        "frame-weighted mean of its shots' VMAF, its lowest shot, and its target."
    )
    return Plot("plot-rungs", "The ladder's rungs", caption, fig)


def _rung_shots(d: dict[str, Any]) -> Plot:
    rungs, pool = d["rungs"], d["target"]["pool"]
    cols = min(3, len(rungs))
    rows = math.ceil(len(rungs) / cols)
    fig = Figure(figsize=(WIDTH, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True).ravel()
    for ax, r in zip(axes, rungs, strict=False):
        # Every shot's trials as one polyline broken by NaN between shots: one SVG path
        # for a whole rung, not one element per shot.
        walk_x: list[float] = []
        walk_y: list[float] = []
        chosen_x, chosen_y = [], []
        for s in r["shots"]:
            scored = [(_bitrate(s, p["bytes"]), pooled(p["vmaf"], pool)) for p in s["probes"]]
            pts = sorted((x, y) for x, y in scored if y is not None)
            walk_x += [p[0] for p in pts] + [math.nan]
            walk_y += [p[1] for p in pts] + [math.nan]
            v = pooled(s["vmaf"], pool)
            if v is not None:
                chosen_x.append(_bitrate(s, s["bytes"]))
                chosen_y.append(v)
        name = r["name"]
        marked = len(r["shots"]) <= MAX_MARKED_SHOTS
        ax.plot(walk_x, walk_y, color="#aaaaaa", lw=0.7, marker="o" if marked else None, ms=3,
                gid=f"rq-{name}-trials")  # fmt: skip
        ax.plot(
            chosen_x,
            chosen_y,
            ls="none",
            marker="D",
            ms=4,
            color="#0072B2",
            gid=f"rq-{name}-chosen",
        )
        ax.axhline(r["target_vmaf"], color="#009E73", ls="--", lw=1)
        _log_x(ax)
        ax.autoscale_view()
        ax.set_title(
            f"{name} ({r['width']}x{r['height']}), target {r['target_vmaf']:g}", fontsize=9
        )
        ax.set_xlabel("shot bitrate (kb/s, log)", fontsize=8)
        ax.set_ylabel("VMAF", fontsize=8)
    for ax in axes[len(rungs) :]:
        ax.set_visible(False)
    points = "every trial (grey dots" if len(rungs[0]["shots"]) <= MAX_MARKED_SHOTS else (
        "every trial (the vertices of the grey lines")  # fmt: skip
    caption = (
        f"Per rung, each shot's rate-quality points: {points}, joined per shot in bitrate "
        "order) and the chosen one (blue); dashed: the rung's target."
    )
    return Plot("plot-rung-shots", "Rate-quality per shot and rung", caption, fig)
