"""The report as one self-contained HTML page: styles inline, figures as inline SVG, no
script and nothing fetched at view time."""

from __future__ import annotations

import html
import shlex
from collections import Counter
from collections.abc import Sequence
from typing import Any

from vmaftune import __version__
from vmaftune.steps.report.document import Document, pooled
from vmaftune.steps.report.plots import VERDICT_COLOURS, Plot

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1120px; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 4px; }
p.sub, p.caption { color: #555; margin: 2px 0 8px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #444; }
table.shots td, table.shots th { text-align: right; padding: 1px 8px; }
table.shots tr:nth-child(even) { background: #f6f6f6; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; display: block; }
pre { background: #f4f4f4; padding: 8px 10px; white-space: pre-wrap; word-break: break-all; }
.verdict { font-weight: 600; }
footer { color: #888; margin-top: 32px; font-size: 12px; }
"""


def render(doc: Document, plots: Sequence[Plot]) -> str:
    d = doc.data
    title = f"vmaftune report: {doc.name}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(_subtitle(doc))}</p></header>',
        '<section id="summary"><h2>Summary</h2>',
        _summary(doc),
        "</section>",
    ]
    for plot in plots:
        parts += [
            f'<section class="plot" id="{plot.id}"><h2>{_e(plot.title)}</h2>',
            f'<p class="caption">{_e(plot.caption)}</p>',
            f"<figure>{plot.svg()}</figure></section>",
        ]
    parts.append(_shots_table(doc))
    command = shlex.join(str(a) for a in d.get("command", []))
    parts += [
        '<section id="command"><h2>Command</h2>',
        f"<pre>{_e(command) or '(not recorded)'}</pre></section>",
        f"<footer>Written by vmaftune {_e(__version__)} from {_e(doc.path.name)}.</footer>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _subtitle(doc: Document) -> str:
    d, e = doc.data, doc.data["encoder"]
    src = d["source"]
    what = f"{src['width']}x{src['height']}, {src['frames']} frames, {src['duration']:g} s"
    if doc.kind == "ladder":
        return (
            f"HLS ladder of {len(d['rungs'])} rungs by {e['name']} (preset {e['preset']}) "
            f"from {src['path']} ({what})"
        )
    t = d["target"]
    return (
        f"{e['name']} (preset {e['preset']}) per shot to VMAF {t['vmaf']:g} "
        f"({t['pool']}, {t.get('mode', 'search')} mode) from {src['path']} ({what})"
    )


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _vmaf_text(v: dict[str, float] | None) -> str:
    if not v:
        return "not scored"
    return (
        f"mean {v['mean']:.2f} · harmonic {v['harmonic_mean']:.2f} · p5 {v['p5']:.2f} · "
        f"min {v['min']:.2f}"
    )


def _summary(doc: Document) -> str:
    d = doc.data
    t, e = d["totals"], d["encoder"]
    rows: list[tuple[str, str]] = [
        (
            "encoder",
            f"{e['name']} ({e['ffmpeg']}, {e.get('version', '?')}), preset "
            f"{e['preset']}, {e['pix_fmt']}",
        ),
    ]
    if doc.kind == "ladder":
        rows += [
            ("rungs", f"{t['rungs']} x {t['shots']} shots"),
            ("trials", f"{t['probes']} ({t['encodes']} encoded by the run that wrote it)"),
            ("time", f"{t['seconds']:.1f} s"),
        ]
        rows += [("skipped", note) for note in d.get("skipped", [])]
        return _rows(rows) + _rungs_table(d)
    o, target = d["output"], d["target"]
    verdicts = Counter(s["verdict"] for s in d["shots"])
    rows += [
        (
            "output",
            f"{o['path']}: {o['bytes'] / 1e6:.3f} MB, {o['video_bitrate'] / 1000:.1f} kb/s video",
        ),
        ("VMAF (whole file)", _vmaf_text(o.get("vmaf"))),
        (
            "target",
            f"{target['vmaf']:g} ({target['pool']}, tolerance {target['tolerance']:g}, "
            f"{target['model']}, {target.get('mode', 'search')} mode)",
        ),
        (
            "shots",
            f"{t['shots']}: "
            + ", ".join(
                f"{n} {v}" for v, n in sorted(verdicts.items(), key=lambda kv: _order(kv[0]))
            ),
        ),
        (
            "trials",
            f"{t['probes']} ({t['encodes']} encoded by the run that wrote it; "
            f"{t['probes'] / max(1, t['shots']):.2f} per shot)",
        ),
        ("time", f"{t['seconds']:.1f} s" + _parts(t.get("seconds_by_part"))),
    ]
    predictor = target.get("predictor")
    if predictor:
        rows.append(
            (
                "predictor",
                f"{predictor['id']} (±{predictor['half_width']:g} VMAF "
                f"interval, features {predictor['features_seconds']:g} s)",
            )
        )
    verify = target.get("verify")
    if verify:
        trusted = "rest trusted unscored" if verify["trusted"] else "rest verified"
        rows.append(("verify", f"{verify['mode']}: shots {verify['sampled']} sampled; {trusted}"))
    return _rows(rows)


def _order(verdict: str) -> int:
    names = list(VERDICT_COLOURS)
    return names.index(verdict) if verdict in names else len(names)


def _parts(parts: dict[str, float] | None) -> str:
    if not parts:
        return ""
    return " (" + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()) + ")"


def _rungs_table(d: dict[str, Any]) -> str:
    head = ("rung", "size", "target", "VMAF mean", "lowest shot", "avg kb/s", "peak kb/s", "MB")
    rows = [
        (
            r["name"],
            f"{r['width']}x{r['height']}",
            f"{r['target_vmaf']:g}",
            f"{r['vmaf']['mean']:.2f}",
            f"{r['vmaf']['lowest_shot']:.2f}",
            f"{r['average_bandwidth'] / 1000:.1f}",
            f"{r['bandwidth'] / 1000:.1f}",
            f"{r['bytes'] / 1e6:.3f}",
        )
        for r in d["rungs"]
    ]
    return _table("rungs", head, rows)


def _table(cls: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _shots_table(doc: Document) -> str:
    d = doc.data
    groups = (
        [(r["name"], r["shots"]) for r in d["rungs"]]
        if doc.kind == "ladder"
        else [("", d["shots"])]
    )
    pool = d["target"]["pool"]
    head: tuple[str, ...] = (
        "rung",
        "shot",
        "start s",
        "frames",
        "cut",
        "verdict",
        d["encoder"]["setting"],
        f"VMAF {pool}",
        "kb/s",
        "kB",
        "trials",
    )
    rows: list[tuple[str, ...]] = []
    for rung, shots in groups:
        for s in shots:
            v = pooled(s["vmaf"], pool)
            rows.append(
                (
                    rung,
                    str(s["index"]),
                    f"{s['start_time']:.2f}",
                    str(s["frames"]),
                    s.get("cut", ""),
                    s["verdict"],
                    f"{s['setting']:g}",
                    "—" if v is None else f"{v:.2f}",
                    f"{s['bitrate'] / 1000:.1f}",
                    f"{s['bytes'] / 1000:.1f}",
                    str(len(s["probes"])),
                )
            )
    if doc.kind != "ladder":
        head, rows = head[1:], [r[1:] for r in rows]
    count = len(rows)
    return (
        f'<section id="shots"><h2>Shots</h2><details><summary>{count} rows</summary>'
        f"{_table('shots', head, rows)}</details></section>"
    )
