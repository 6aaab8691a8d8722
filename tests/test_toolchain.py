"""FFmpeg discovery: bundled default, overrides, the capability cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vmaftune.edges.toolchain import cache_dir, locate, probe_ffmpeg, resolve, trial_encode
from vmaftune.errors import ToolError

from .conftest import ffmpeg_hiding


def test_bundled_default_is_ffmpeg_9_with_what_we_need():
    ff = resolve()
    assert ff.source == "bundled"
    assert ff.version.startswith("n9.0.2")
    for enc in ("libx264", "libx265", "libsvtav1", "h264_nvenc", "hevc_qsv"):
        assert ff.has_encoder(enc), enc
    assert ff.has_filter("libvmaf") and ff.has_filter("scdet")
    assert not ff.has_encoder("libnothing")


def test_override_by_flag_and_environment(ffmpeg_exe, tmp_path, monkeypatch):
    link = tmp_path / "my-ffmpeg"
    link.symlink_to(ffmpeg_exe)
    path, source = locate(str(link))
    assert source == "--ffmpeg" and path == Path(ffmpeg_exe).resolve()
    monkeypatch.setenv("VMAFTUNE_FFMPEG", str(link))
    assert locate()[1] == "$VMAFTUNE_FFMPEG"
    # The flag wins over the environment.
    assert locate(ffmpeg_exe)[1] == "--ffmpeg"


def test_bad_overrides_fail_clearly(tmp_path, monkeypatch):
    with pytest.raises(ToolError, match="does not exist"):
        locate(str(tmp_path / "nope"))
    not_exec = tmp_path / "plain.txt"
    not_exec.write_text("x")
    with pytest.raises(ToolError, match="not an executable"):
        locate(str(not_exec))
    monkeypatch.setenv("VMAFTUNE_FFMPEG", "definitely-not-on-path-ffmpeg")
    with pytest.raises(ToolError, match="not on PATH"):
        locate()


def test_not_ffmpeg_is_refused(tmp_path):
    fake = tmp_path / "fake"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(ToolError, match="does not look like FFmpeg"):
        probe_ffmpeg(fake, "--ffmpeg")


def test_capabilities_cached_by_path_and_mtime(ffmpeg_exe, tmp_path):
    wrapper = tmp_path / "ffmpeg-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec "{ffmpeg_exe}" "$@"\n')
    wrapper.chmod(0o755)
    first = probe_ffmpeg(wrapper, "--ffmpeg")
    cache_file = cache_dir() / "ffmpeg-capabilities.json"
    data = json.loads(cache_file.read_text())
    key = next(k for k in data["binaries"] if k.startswith(str(wrapper)))
    # Poison the entry: an unchanged binary must be served from the cache...
    data["binaries"][key]["version"] = "from-cache"
    cache_file.write_text(json.dumps(data))
    assert probe_ffmpeg(wrapper, "--ffmpeg").version == "from-cache"
    # ...and a changed binary (new mtime) must be probed again.
    st = wrapper.stat()
    os.utime(wrapper, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert probe_ffmpeg(wrapper, "--ffmpeg").version == first.version


def test_unreadable_cache_only_warns(ffmpeg_exe, tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("VMAFTUNE_CACHE_DIR", str(blocker / "sub"))
    assert probe_ffmpeg(Path(ffmpeg_exe), "bundled").has_filter("libvmaf")


def test_trial_encode_tells_software_from_missing_hardware():
    ff = resolve()
    assert trial_encode(ff, "libx264", "yuv420p").usable
    missing = trial_encode(ff, "libnothing", "yuv420p")
    assert not missing.usable and "not built into" in missing.reason


def test_doctor_table(cli):
    result = cli("doctor")
    assert result.code == 0, result.stderr
    for item in ("filter libvmaf", "model vmaf_v0.6.1", "encoder x264", "encoder svtav1"):
        assert item in result.stdout
    data = cli("doctor", "--json").json()
    assert data["missing"] == []
    passed = {c["item"] for c in data["checks"] if c["ok"]}
    assert passed >= {"encoder x265", "model vmaf_4k_v0.6.1"}


def test_doctor_fails_when_a_needed_encoder_cannot_run(cli):
    ff = resolve()
    if trial_encode(ff, "h264_nvenc", "yuv420p").usable:
        pytest.skip("this machine has a working NVENC")
    result = cli("doctor", "--codec", "h264_nvenc")
    assert result.code == 4
    assert result.stderr.strip() == "vmaftune: error: missing: encoder h264_nvenc"


def test_doctor_fails_without_libvmaf(cli, tmp_path, ffmpeg_exe):
    wrapper = ffmpeg_hiding(tmp_path, ffmpeg_exe, "-filters", "libvmaf")
    result = cli("--ffmpeg", wrapper, "doctor")
    assert result.code == 4 and "filter libvmaf" in result.stderr
