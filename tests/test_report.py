"""`vmaftune report` and `--report`: pages drawn from real per-shot encodes and ladders
(real x264, real libvmaf) and from made-up long titles, checked as text and in Debian's
headless Chromium (console, figures and their marks, screenshot)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import browser
from bench.report_page import ladder as made_ladder
from bench.report_page import title as made_title
from vmaftune.steps import sidecar
from vmaftune.steps.report.plots import MAX_FRAME_POINTS, MAX_MARKED_SHOTS, MAX_WALKS

from .conftest import cli_subprocess
from .test_final_score import stock_frames

BASE = ("-c", "x264", "--preset", "veryfast")
NO_BROWSER = browser.find_chromium() is None
needs_browser = pytest.mark.skipif(
    NO_BROWSER, reason="Debian's chromium and chromium-driver are not installed (.ci/run "
    "installs them)"
)  # fmt: skip


@pytest.fixture(scope="module")
def encoded(cut_clip, tmp_path_factory):  # type: ignore[no-untyped-def]
    src = cut_clip[0]
    out = tmp_path_factory.mktemp("report") / "out.mp4"
    r = cli_subprocess("encode", src, "-o", out, *BASE, "--target-vmaf", "90", "--report",
                       "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    return src, out, r


@pytest.fixture(scope="module")
def laddered(cut_clip, tmp_path_factory):  # type: ignore[no-untyped-def]
    src = cut_clip[0]
    out = tmp_path_factory.mktemp("report-ladder") / "hls"
    r = cli_subprocess("ladder", src, "-o", out, *BASE, "--rungs", "180:93,120:85", "--report")
    assert r.code == 0, r.stderr
    return src, out


def _sidecar(out: Path) -> dict[str, Any]:
    return dict(json.loads(sidecar.paths(out)[0].read_text()))


def _marks(page: str, prefix: str) -> list[str]:
    return re.findall(rf'<g id="({re.escape(prefix)}[^"]*)"', page)


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "doc.json") -> Path:
    path = tmp_path / name
    path.write_text(sidecar.as_json(doc))
    return path


def test_sidecar_keeps_outs_per_frame_vmaf_as_stock_libvmaf_scores_it(encoded, ffmpeg_exe):
    src, out, _ = encoded
    doc = _sidecar(out)
    frames = np.array(doc["output"]["frame_vmaf"])
    assert len(frames) == doc["output"]["frames"] == doc["source"]["frames"]
    stock = stock_frames(ffmpeg_exe, out, src)
    # Kept to 2 decimals, from scores kept to 4.
    assert np.abs(frames - stock).max() <= 0.005 + 0.00005 + 1e-9
    # One line in the JSON, however long the title.
    line = next(x for x in sidecar.paths(out)[0].read_text().splitlines() if "frame_vmaf" in x)
    assert line.count(",") == len(frames) - 1


def test_encode_report_is_a_self_contained_page_of_the_run(encoded):
    _, out, r = encoded
    page_path = out.with_name(out.name + ".report.html")
    assert r.ndjson()[-1]["report"] == str(page_path)
    page = page_path.read_text()
    doc = _sidecar(out)
    # Nothing to fetch: no script, no external URL outside the SVG namespace declarations.
    assert "<script" not in page
    assert not re.findall(r'(?:src|href)="(?!#|data:)', page)
    for section in ("summary", "plot-frames", "plot-bits", "plot-walks", "shots", "command"):
        assert f'id="{section}"' in page
    shots = doc["shots"]
    assert len(_marks(page, "bits-bar-")) == len(shots)
    assert len(_marks(page, "walk-")) >= 2 * len(shots)  # trials + chosen per shot
    assert doc["command"][1] == "encode" and "--report" in page
    assert f"{len(shots)} rows" in page


@needs_browser
def test_report_renders_in_headless_chromium(encoded, tmp_path):
    _, out, _ = encoded
    doc = _sidecar(out)
    page = out.with_name(out.name + ".report.html")
    with browser.chromium() as driver:
        view = browser.view(driver, page)
        browser.full_screenshot(driver, tmp_path / "full.png")
    assert view.errors == []
    assert not browser.blank(view.screenshot)
    assert not browser.blank((tmp_path / "full.png").read_bytes())
    figs = view.figures
    assert set(figs) == {"plot-frames", "plot-bits", "plot-walks"}
    assert all(f["width"] > 500 and f["height"] > 150 for f in figs.values())
    shots = doc["shots"]
    frames = figs["plot-frames"]["marks"]
    assert frames["frames-line"]["vertices"] == doc["output"]["frames"]
    assert frames["frames-shots"]["paths"] == len(shots)
    assert frames["frames-cuts"]["paths"] == len(shots) - 1
    bits = figs["plot-bits"]["marks"]
    assert sum(1 for k in bits if k.startswith("bits-bar-")) == len(shots)
    assert bits["setting-trials"]["uses"] == sum(len(s["probes"]) for s in shots)
    assert bits["setting-chosen"]["uses"] == len(shots)
    walks = figs["plot-walks"]["marks"]
    for s in shots:
        assert walks[f"walk-{s['index']}-trials"]["uses"] == len(s["probes"])
        assert walks[f"walk-{s['index']}-chosen"]["uses"] == 1


@needs_browser
def test_ladder_report_renders_in_headless_chromium(laddered):
    _, out = laddered
    doc = json.loads((out / "ladder.json").read_text())
    with browser.chromium() as driver:
        view = browser.view(driver, out / "report.html")
    assert view.errors == [] and not browser.blank(view.screenshot)
    rungs = view.figures["plot-rungs"]["marks"]
    assert rungs["rungs-mean"]["uses"] == rungs["rungs-lowest"]["uses"] == len(doc["rungs"])
    shots = view.figures["plot-rung-shots"]["marks"]
    for r in doc["rungs"]:
        trials = sum(len(s["probes"]) for s in r["shots"])
        assert shots[f"rq-{r['name']}-trials"]["uses"] == trials
        assert shots[f"rq-{r['name']}-trials"]["vertices"] == trials
        assert shots[f"rq-{r['name']}-chosen"]["uses"] == len(r["shots"])


def test_report_command_redraws_a_sidecar_and_writes_pngs(encoded, tmp_path):
    from PIL import Image

    _, out, _ = encoded
    page, pngs = tmp_path / "again.html", tmp_path / "png"
    r = cli_subprocess("report", out, "-o", page, "--png", pngs, "--json")
    assert r.code == 0, r.stderr
    done = r.ndjson()[-1]
    assert done["source"] == str(sidecar.paths(out)[0])
    assert done["plots"] == ["plot-frames", "plot-bits", "plot-walks"]
    # The same figures as the page drawn during the encode (figures are deterministic).
    drawn = out.with_name(out.name + ".report.html").read_text()
    assert page.read_text().split('id="plot-frames"')[1] == drawn.split('id="plot-frames"')[1]
    for name in done["plots"]:
        image = Image.open(pngs / f"{name}.png")
        assert image.width > 800 and image.height > 200
        assert not browser.blank((pngs / f"{name}.png").read_bytes())
    # Again without --force: refused, nothing changed.
    before = page.read_bytes()
    r = cli_subprocess("report", out, "-o", page)
    assert r.code == 3 and "exists; pass --force" in r.stderr and page.read_bytes() == before


def test_long_title_page_stays_small(tmp_path):
    doc = made_title(1500)
    frames = len(doc["output"]["frame_vmaf"])
    assert frames > 150_000  # about two hours at 24 fps
    page = tmp_path / "long.html"
    r = cli_subprocess("report", _write(tmp_path, doc), "-o", page)
    assert r.code == 0, r.stderr
    text = page.read_text()
    assert page.stat().st_size < 5_000_000
    assert len(_marks(text, "bits-bar-")) == 1500
    assert len(set(re.findall(r'<g id="walk-(\d+)-', text))) == MAX_WALKS
    step = math.ceil(frames / MAX_FRAME_POINTS)
    assert f"bins of {step}" in text


def test_long_ladder_page_stays_small(tmp_path):
    doc = made_ladder(1500)
    page = tmp_path / "ladder.html"
    r = cli_subprocess("report", _write(tmp_path, doc, "ladder.json"), "-o", page)
    assert r.code == 0, r.stderr
    assert page.stat().st_size < 5_000_000
    assert MAX_MARKED_SHOTS < 1500 and "vertices of the grey lines" in page.read_text()


@needs_browser
def test_long_pages_render_in_headless_chromium(tmp_path):
    title, ladder = made_title(1500), made_ladder(1500)
    for doc, name in ((title, "doc.json"), (ladder, "ladder.json")):
        page = tmp_path / f"{name}.html"
        assert cli_subprocess("report", _write(tmp_path, doc, name), "-o", page).code == 0
    with browser.chromium() as driver:
        long_title = browser.view(driver, tmp_path / "doc.json.html")
        long_ladder = browser.view(driver, tmp_path / "ladder.json.html")
    for view in (long_title, long_ladder):
        assert view.errors == [] and not browser.blank(view.screenshot)
    frames = len(title["output"]["frame_vmaf"])
    marks = long_title.figures["plot-frames"]["marks"]
    assert marks["frames-line"]["vertices"] == math.ceil(
        frames / math.ceil(frames / MAX_FRAME_POINTS)
    )
    scored = sum(1 for s in title["shots"] if s["vmaf"])
    assert marks["frames-shots"]["paths"] == scored
    for r in ladder["rungs"]:
        rq = long_ladder.figures["plot-rung-shots"]["marks"][f"rq-{r['name']}-trials"]
        assert rq["vertices"] == sum(1 for s in r["shots"] for p in s["probes"] if p["vmaf"])


def test_trusted_capped_unreachable_and_one_shot_titles(tmp_path):
    doc = made_title(60, seed=3)
    verdicts = {s["verdict"] for s in doc["shots"]}
    assert {"TRUSTED", "CAPPED", "UNREACHABLE", "GOSPEL"} <= verdicts
    page = tmp_path / "mixed.html"
    assert cli_subprocess("report", _write(tmp_path, doc), "-o", page).code == 0
    text = page.read_text()
    for verdict in ("TRUSTED", "CAPPED", "UNREACHABLE"):
        assert f">{verdict}<" in text  # in the legend and the shots table
    trusted = [s for s in doc["shots"] if s["verdict"] == "TRUSTED"]
    drawn = {int(i) for i in re.findall(r'<g id="walk-(\d+)-chosen"', text)}
    assert not drawn & {s["index"] for s in trusted}  # unscored: no chosen VMAF to ring
    one = made_title(1)
    assert len(one["shots"]) == 1
    page = tmp_path / "one.html"
    assert cli_subprocess("report", _write(tmp_path, one, "one.json"), "-o", page).code == 0
    text = page.read_text()
    assert len(_marks(text, "bits-bar-")) == 1 and not _marks(text, "frames-cuts")


def test_sidecar_without_per_frame_scores_still_draws(tmp_path):
    doc = made_title(5)
    del doc["output"]["frame_vmaf"]
    page = tmp_path / "old.html"
    assert cli_subprocess("report", _write(tmp_path, doc), "-o", page).code == 0
    text = page.read_text()
    assert "holds no per-frame scores" in text and not _marks(text, "frames-line")
    assert len(_marks(text, "bits-bar-")) == 5


def test_report_errors_are_one_line(tmp_path, cli):  # type: ignore[no-untyped-def]
    good = _write(tmp_path, made_title(3))
    page = tmp_path / "p.html"
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/1"}')
    truncated = tmp_path / "cut.json"
    doc = made_title(3)
    del doc["shots"][1]["probes"]
    truncated.write_text(json.dumps(doc))
    cases = [
        ((tmp_path / "missing.json", "-o", page), 3, "no such file"),
        ((bad_json, "-o", page), 3, "bad JSON"),
        ((other, "-o", page), 3, "not a vmaftune sidecar or ladder"),
        ((truncated, "-o", page), 3, "the report cannot read"),
        ((tmp_path, "-o", page), 3, "without ladder.json"),
        ((good,), 2, "needs -o PAGE.html, --png DIR"),
        ((good, "-o", good), 2, "is the input"),
        ((good, "-o", tmp_path / "nowhere" / "p.html"), 3, "does not exist"),
        ((good, "--png", good), 3, "is not a folder"),
    ]
    for args, code, text in cases:
        r = cli("report", *args)
        assert r.code == code and text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not page.exists() and json.loads(good.read_text())["schema"] == sidecar.SCHEMA
    r = cli("encode", good, "-o", tmp_path / "o.mp4", "-c", "x264", "--report")
    assert r.code == 2 and "needs --target-vmaf" in r.stderr


def test_drawing_is_imported_only_when_a_page_is_drawn():
    import subprocess
    import sys

    probe = "import sys, vmaftune.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
