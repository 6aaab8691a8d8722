"""The public API: what `vmaftune.__all__` names, and docs/api.md's example, run as it
stands in the document."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import vmaftune

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_all_names_exist_and_nothing_else_is_promised() -> None:
    for name in vmaftune.__all__:
        assert hasattr(vmaftune, name), name
    assert {"encode_once", "encode_target", "encode_ladder", "score"} <= set(vmaftune.__all__)


def test_docs_api_example_runs(tmp_path: Path, ffmpeg_exe: str, bbb: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    clip = tmp_path / "two.mp4"
    subprocess.run([ffmpeg_exe, "-v", "error", "-i", str(bbb), "-t", "2", "-an", "-c:v",
                    "libx264", "-crf", "16", str(clip)], check=True)  # fmt: skip
    out = tmp_path / "out.mp4"
    exec(compile(block, str(DOC), "exec"), {"SOURCE": str(clip), "OUTPUT": str(out)})
    printed = capsys.readouterr().out
    assert re.search(r"^\d+ shots, \d+ frames$", printed, re.M)
    assert "whole-file VMAF" in printed and "VMAF again" in printed
    doc = json.loads(out.with_name(out.name + ".shots.json").read_text())
    whole = float(re.search(r"whole-file VMAF ([\d.]+)", printed)[1])  # type: ignore[index]
    again = float(re.search(r"VMAF again: ([\d.]+)", printed)[1])  # type: ignore[index]
    # The run's own whole-file score and an independent scoring of the file agree.
    assert abs(whole - again) < 0.01 and abs(doc["output"]["vmaf"]["mean"] - whole) < 0.01
    assert all(s["vmaf"]["mean"] >= 93 for s in doc["shots"] if s["verdict"] == "SEARCH")


def test_iterating_a_run_yields_events_then_the_result(tmp_path: Path, carphone) -> None:  # type: ignore[no-untyped-def]
    ref, dist = carphone
    run = vmaftune.score(vmaftune.ScoreRequest(reference=ref, distorted=dist))
    seen = [type(e).__name__ for e in run]
    assert "Progress" in seen
    assert run.result.vmaf is not None and 0 < run.result.vmaf.pooled.mean < 100
    with pytest.raises(vmaftune.InternalError):
        run.wait()  # a run starts once


def test_request_errors_are_one_line_vmaftune_errors(tmp_path: Path) -> None:
    request = vmaftune.TargetRequest(tmp_path / "missing.mp4", tmp_path / "o.mp4", "x264", 93)
    with pytest.raises(vmaftune.InputError):
        vmaftune.encode_target(request).wait()
    bad = vmaftune.TargetRequest(tmp_path / "missing.mp4", tmp_path / "o.mp4", "nope", 93)
    with pytest.raises(vmaftune.UsageError):
        vmaftune.encode_target(bad).wait()
    assert list(tmp_path.iterdir()) == []
