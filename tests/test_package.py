"""A wheel built from the repository carries encoders/ and models/ and works on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("vmaftune-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for toml in ("x264", "x265", "svtav1", "nvenc", "qsv"):
        assert f"vmaftune/_data/encoders/{toml}.toml" in names
    assert "vmaftune/_data/models/README.md" in names
    assert "vmaftune/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True
    )
    exe = env_dir / "bin" / "vmaftune"
    # Run from outside the checkout so only the installed package can be found.
    listed = subprocess.run(
        [str(exe), "encoders", "--json"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["name"] for r in rows} >= {"x264", "x265", "svtav1", "h264_nvenc", "av1_qsv"}
    assert all(r["usable"] for r in rows if r["hardware"] == "none")
    doctor = subprocess.run([str(exe), "doctor"], cwd=tmp_path, capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stderr
    assert "libvmaf" in doctor.stdout
    origin = subprocess.run(
        [str(py), "-c", "import vmaftune, sys; print(vmaftune.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(env_dir) in origin
