"""Predict-then-verify decisions (vmaftune.steps.decide.predict): GOSPEL after one encode
inside the band, RECALIBRATE when the measurement is inside the interval and one
corrected encode (the search's step from it) settles the shot, FALL_BACK to the seeded
search otherwise; replayed from the same points they give the same answers. The shot's
true curve here is a fixed one, straight in distortion log(100.5 - VMAF) like real
shots' near the targets; no model is needed."""

from __future__ import annotations

import math

from vmaftune import encoders
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict

KNOB = encoders.get("x264").quality
TARGET = Target(93.0, tolerance=0.5)


def run(pred: ShotPrediction, truth) -> tuple[list[Point], Point, str]:  # type: ignore[no-untyped-def]
    """Drive the decisions against a true curve, as pershot does with real encodes."""
    points: list[Point] = []
    while (
        s := predict.next_setting(pred, KNOB, points, [p.score for p in points], TARGET)
    ) is not None:
        assert all(abs(s - p.setting) > 1e-9 for p in points), "a setting was measured twice"
        points.append(Point(s, truth(s)))
        assert len(points) <= search.MAX_PROBES + 2
    best, verdict = predict.choose(pred, points, [p.score for p in points], TARGET, KNOB)
    return points, best, verdict


def line(at23: float, k: float = KNOB.prior_log_slope):  # type: ignore[no-untyped-def]
    """VMAF at setting s when the distortion rises by k per unit (at23 at CRF 23)."""
    return lambda s: 100.5 - (100.5 - at23) * math.exp(k * (s - 23))


def test_gospel_when_the_first_encode_lands_in_the_band() -> None:
    truth = line(93.2)
    pred = ShotPrediction(0, 23.0, 93.25, -1.2, 2.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.GOSPEL and len(points) == 1 and best.setting == 23.0


def test_recalibrate_inside_the_interval_takes_one_corrected_encode() -> None:
    truth = line(95.0)  # the shot is easier than predicted: 1.75 above the band's middle
    pred = ShotPrediction(0, 23.0, 93.25, -1.2, 3.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.RECALIBRATE and len(points) == 2
    assert best.setting > 23.0 and best.score >= TARGET.vmaf  # cheaper, still passing
    assert best.setting == points[1].setting


def test_recalibrate_keeps_the_cheapest_passing_encode() -> None:
    # Just above the band, on a curve steeper than the codec's typical one: the correction
    # fails one grid step higher; the pass and the fail settle the shot, the pass is kept.
    truth = line(93.7, k=0.3)
    pred = ShotPrediction(0, 23.0, 93.25, -1.5, 3.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.RECALIBRATE and len(points) == 2
    assert points[1].setting == 23.5 and points[1].score < TARGET.vmaf and best.setting == 23.0


def test_a_correction_that_leaves_the_shot_loose_falls_back() -> None:
    # The correction fails well above an overshooting pass: not settled, so the search
    # goes on from both points rather than keep 2 VMAF of overshoot.
    truth = line(95.0, k=0.3)
    pred = ShotPrediction(0, 23.0, 93.25, -0.8, 3.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.FALL_BACK and len(points) >= 3 and points[1].setting == 25.5
    assert TARGET.vmaf <= best.score <= TARGET.vmaf + TARGET.tolerance or any(
        abs(p.setting - best.setting - KNOB.step) < 1e-9 and p.score < TARGET.vmaf for p in points
    )


def test_fall_back_outside_the_interval_seeds_the_search() -> None:
    truth = line(85.0)  # far harder than predicted
    pred = ShotPrediction(0, 23.0, 93.25, -1.2, 2.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.FALL_BACK and points[0].setting == 23.0  # the prediction is kept
    assert len(points) >= 2 and TARGET.vmaf <= best.score
    # The search's answer from the same first point: what the fallback must reach.
    alone = [points[0]]
    while (s := search.next_setting(KNOB, alone, TARGET)) is not None:
        alone.append(Point(s, truth(s)))
    assert best == search.choose(alone, TARGET, KNOB)[0]


def test_fall_back_when_the_interval_is_too_wide_and_when_the_correction_fails() -> None:
    truth = line(95.0)
    wide = ShotPrediction(0, 23.0, 93.25, -1.2, predict.MAX_HALF_WIDTH + 1)
    assert run(wide, truth)[2] == Verdict.FALL_BACK
    # Inside the interval, but the curve is far flatter than typical: the corrected
    # encode fails like the first one, and the search takes over.
    truth = line(92.0, k=0.02)
    pred = ShotPrediction(0, 23.0, 93.25, -5.0, 3.0)
    points, best, verdict = run(pred, truth)
    assert verdict == Verdict.FALL_BACK and best.score >= TARGET.vmaf and len(points) >= 3


def test_decisions_replay_identically() -> None:
    truth = line(90.5)
    pred = ShotPrediction(0, 23.0, 93.25, -1.2, 3.0)
    a = run(pred, truth)
    b = run(pred, truth)
    assert a == b


def test_record_holds_the_interval() -> None:
    rec = ShotPrediction(3, 27.5, 93.1234, -1.5, 2.5).record()
    assert rec["setting"] == 27.5 and rec["interval"] == [90.623, 95.623]


def test_predict_mode_usage_errors(cli, carphone, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref, _ = carphone
    out = tmp_path / "o.mkv"
    r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--mode", "guess")
    assert r.code == 2 and "--mode must be search or predict" in r.stderr
    r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--mode", "predict",
            "--predictor", "vmaf_pre_dn")  # fmt: skip
    assert r.code == 2 and "needs a predictor model" in r.stderr
    r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--mode", "predict",
            "--predictor", "no_such_model")  # fmt: skip
    assert r.code == 2 and "no_such_model" in r.stderr
    assert "Traceback" not in r.stderr and list(tmp_path.iterdir()) == []


def test_sample_shots_spread_across_complexity() -> None:
    from vmaftune.steps.decide import sample_shots
    from vmaftune.steps.shots import Shot

    shots = [Shot(i, i * 10, i * 10 + 10, i * 0.4, i * 0.4 + 0.4, "hard") for i in range(7)]
    settings = [30, 18, 25, 40, 22, 35, 28]  # shot 1 hardest, shot 3 easiest
    preds = {i: ShotPrediction(i, s, 93.25, -1.2, 2.0) for i, s in enumerate(settings)}
    picked = [s.index for s in sample_shots(shots, preds, 3)]
    assert picked == [1, 3, 6]  # the hardest, the easiest and the median (28)
    assert len(sample_shots(shots, preds, 10)) == 7


def test_trusted_shots_are_encoded_once_and_not_scored(carphone, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vmaftune import encoders
    from vmaftune.edges.toolchain import resolve
    from vmaftune.run.shots import run_shots
    from vmaftune.steps import sidecar
    from vmaftune.steps.decide import Trust
    from vmaftune.steps.probe import read
    from vmaftune.steps.score import VmafOptions
    from vmaftune.steps.shots import Shot, ShotOptions, detect
    from vmaftune.steps.trial import Job
    from vmaftune.work.workdir import WorkDir

    ref, _ = carphone
    media, demuxed = read(ref)
    _, frames = detect(resolve(), media, demuxed, ShotOptions())
    secs = frames.timeline.seconds()
    shots = [Shot(0, 0, 60, 0.0, secs[60], "start"), Shot(1, 60, 120, secs[60], secs[-1], "split")]
    x264 = encoders.get("x264")
    job = Job(media, frames, x264, "medium", "yuv420p", VmafOptions())
    work = WorkDir(tmp_path / "work").open("key")
    preds = {
        0: ShotPrediction(0, 24.0, 93.25, -1.2, 2.0),
        1: ShotPrediction(1, 30.0, 93.25, -1.2, 2.0),
    }
    events: list[object] = []

    def trust(shot: Shot) -> Trust:
        return Trust(preds[shot.index])

    results = run_shots(resolve(), job, shots, work, trust, jobs=2, emit=events.append)
    assert [r.verdict for r in results] == ["TRUSTED", "TRUSTED"]
    assert [r.chosen.setting for r in results] == [24.0, 30.0]
    assert all(r.chosen.pooled is None and len(r.trials) == 1 for r in results)
    assert all((work.path / "segments" / r.chosen.segment).stat().st_size > 0 for r in results)
    assert results[0].chosen.bytes > results[1].chosen.bytes  # CRF 24 costs more than 30
    rec = sidecar.shot_record(results[0])
    assert rec["vmaf"] is None and rec["prediction"]["setting"] == 24.0
    assert ",TRUSTED,,,,," in sidecar.table(results)
    # Replayed from the journal: nothing is encoded again.
    again: list[object] = []
    run_shots(resolve(), job, shots, work, trust, jobs=1, emit=again.append)
    assert not any(type(e).__name__ == "TrialStart" for e in again)
    work.remove()


def test_verify_option_errors(cli, carphone, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref, _ = carphone
    out = tmp_path / "o.mkv"
    r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--verify", "sample:3")
    assert r.code == 2 and "needs --mode predict" in r.stderr
    r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--mode", "predict",
            "--verify", "sample:0")  # fmt: skip
    assert r.code == 2 and "sample:K" in r.stderr and list(tmp_path.iterdir()) == []
    if _registered("vmaf_predictor"):
        r = cli("encode", ref, "-o", out, "-c", "x264", "-t", "90", "--mode", "predict",
                "--max-interval", "0")  # fmt: skip
        assert r.code == 2 and "--max-interval must be above 0" in r.stderr
        assert list(tmp_path.iterdir()) == [] and "Traceback" not in r.stderr


def _registered(name: str) -> bool:
    from vmaftune.zoo import registry as models

    return name in models.registry().ids()


def test_predict_mode_end_to_end(cli, cut_clip, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import pytest

    if not _registered("vmaf_predictor"):
        pytest.skip("vmaf_predictor is not registered yet (models/train/predictor.py)")
    src, _ = cut_clip
    out = tmp_path / "out.mkv"
    r = cli("encode", src, "-o", out, "-c", "x264", "-t", "90", "--mode", "predict", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads((tmp_path / "out.mkv.shots.json").read_text())
    assert doc["target"]["mode"] == "predict" and doc["target"]["predictor"]["half_width"] > 0
    for shot in doc["shots"]:
        assert shot["verdict"] in (Verdict.GOSPEL, Verdict.RECALIBRATE, Verdict.FALL_BACK, "CAPPED")
        assert shot["vmaf"]["mean"] >= 90.0  # the floor holds whatever the verdict
        first = shot["probes"][0]
        assert first["setting"] == shot["prediction"]["setting"]  # the prediction goes first
        if shot["verdict"] == Verdict.GOSPEL:
            assert len(shot["probes"]) == 1 and shot["vmaf"]["mean"] <= 90.5
        if shot["verdict"] == Verdict.RECALIBRATE:
            assert len(shot["probes"]) == 2


def test_a_shot_outside_the_training_data_searches_from_the_start() -> None:
    # Whatever the prediction says, the search runs as it would alone: same settings,
    # same answer, verdict FALL_BACK.
    truth = line(95.0, k=0.11)
    alone: list[Point] = []
    while (s := search.next_setting(KNOB, alone, TARGET)) is not None:
        alone.append(Point(s, truth(s)))
    pred = ShotPrediction(0, 31.0, 93.25, -1.2, 2.0, outside="si_mean 900 outside [1, 80]")
    points, best, verdict = run(pred, truth)
    assert points == alone and verdict == Verdict.FALL_BACK
    assert best == search.choose(alone, TARGET, KNOB)[0]
    assert pred.record()["outside"].startswith("si_mean")


def test_predict_mode_falls_back_to_the_search_outside_the_training_data(  # type: ignore[no-untyped-def]
    cli, cut_clip, tmp_path, monkeypatch
) -> None:
    import hashlib
    import json
    import shutil

    import pytest

    from vmaftune.zoo import registry as models

    if not _registered("vmaf_predictor"):
        pytest.skip("vmaf_predictor is not registered yet (models/train/predictor.py)")
    # The shipped predictor, with a training range no real shot fits.
    zoo = tmp_path / "zoo"
    shutil.copytree(models.registry().folder, zoo, ignore=shutil.ignore_patterns("train", "data"))
    doc = json.loads((zoo / "registry.json").read_text())
    row = next(r for r in doc["models"] if r["id"] == "vmaf_predictor")
    row["metrics"]["feature_ranges"] = {"si_mean": [-2.0, -1.0]}
    assert hashlib.sha256((zoo / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    (zoo / "registry.json").write_text(json.dumps(doc))
    monkeypatch.setenv("VMAFTUNE_MODELS", str(zoo))
    src, _ = cut_clip
    probes = {}
    for mode in ("search", "predict"):
        out = tmp_path / f"{mode}.mkv"
        r = cli("encode", src, "-o", out, "-c", "x264", "--preset", "ultrafast", "-t", "90",
                "--mode", mode)  # fmt: skip
        assert r.code == 0, r.stderr
        shots = json.loads((tmp_path / f"{mode}.mkv.shots.json").read_text())["shots"]
        probes[mode] = [[p["setting"] for p in s["probes"]] for s in shots]
        if mode == "predict":
            assert all(s["verdict"] == Verdict.FALL_BACK for s in shots)
            assert all("outside the training range" in s["prediction"]["outside"] for s in shots)
    assert probes["predict"] == probes["search"]
