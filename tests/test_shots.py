"""Shot detection on a video whose cuts we made, and the shot-length rules."""

from __future__ import annotations

import itertools
from fractions import Fraction

from bench.cutlist import score
from vmaftune.edges.toolchain import resolve
from vmaftune.steps import probe as media
from vmaftune.steps import shots
from vmaftune.steps.shots import Cut, ShotOptions


def test_detects_the_cuts_we_made(cut_clip):
    path, truth = cut_clip
    info = media.probe(path)
    thumbs = shots.thumbnails(resolve(), info)
    assert len(thumbs) == info.frame_count
    found = shots.find_cuts(thumbs, float(info.frame_rate), ShotOptions())
    tp, fp, fn = score([c.frame for c in found], truth)
    assert (tp, fp, fn) == (len(truth), 0, 0), found
    assert {c.kind for c in found} == {"hard", "gradual"}


def _timeline(frames: int, rate: int = 25) -> media.Timeline:
    return media.Timeline(Fraction(1, rate), tuple(range(frames)), 0.0)


def test_short_shots_merge_and_long_shots_split():
    tl = _timeline(25 * 30)  # 30 s
    cuts = [Cut(10, 0.9, "hard"), Cut(20, 0.3, "hard"), Cut(100, 0.5, "gradual")]
    found = shots.shots_from_cuts(cuts, tl, ShotOptions(min_seconds=1.0, max_seconds=10.0))
    # 10 and 20 make sub-second shots: both weaker-first dropped until none is short.
    assert [s.start for s in found][:2] == [0, 100]
    assert all(s.duration >= 1.0 for s in found)
    assert all(s.duration <= 10.0 + 1e-9 for s in found)
    assert found[-1].end == 25 * 30
    assert [s.cut for s in found].count("split") >= 2
    assert all(a.end == b.start for a, b in itertools.pairwise(found))


def test_shots_command_json(cli, cut_clip):
    path, truth = cut_clip
    result = cli("shots", path, "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["shots"][0]["start_frame"] == 0
    assert doc["shots"][-1]["end_frame"] == doc["frames"]
    assert len(doc["shots"]) == len(truth) + 1


def test_shots_rejects_bad_lengths(cli, cut_clip):
    result = cli("shots", cut_clip[0], "--min-shot", "5", "--max-shot", "6")
    assert result.code == 2 and "--max-shot" in result.stderr
