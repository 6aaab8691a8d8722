"""Which FFmpeg we run and what it can do.

Order of choice: `--ffmpeg PATH`, then `$VMAFTUNE_FFMPEG`, then the static FFmpeg that
`imageio-ffmpeg` ships. A binary's version, encoders and filters are read once and cached
on disk, keyed by its real path, mtime and size; a cache failure only warns.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmaftune.edges import process
from vmaftune.errors import ToolError

if TYPE_CHECKING:
    from vmaftune.encoders import Encoder

log = logging.getLogger("vmaftune")

ENV_FFMPEG = "VMAFTUNE_FFMPEG"
ENV_CACHE = "VMAFTUNE_CACHE_DIR"
CACHE_VERSION = 1


@dataclass(frozen=True)
class FFmpeg:
    path: Path
    source: str  # how it was chosen: "--ffmpeg", "$VMAFTUNE_FFMPEG", "bundled"
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders

    def has_filter(self, name: str) -> bool:
        return name in self.filters

    def argv(self, *args: str) -> list[str]:
        """Every run starts the same way: no banner, never read stdin, errors only."""
        return [str(self.path), "-hide_banner", "-nostdin", "-loglevel", "error", *args]


def cache_dir() -> Path:
    override = os.environ.get(ENV_CACHE)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmaftune"


def bundled_ffmpeg() -> Path | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None


def locate(explicit: str | None = None) -> tuple[Path, str]:
    """Resolve the FFmpeg binary; a path that is given but unusable is an error, never a
    silent fallback to another binary."""
    if explicit:
        return _usable(explicit, "--ffmpeg"), "--ffmpeg"
    env = os.environ.get(ENV_FFMPEG)
    if env:
        return _usable(env, f"${ENV_FFMPEG}"), f"${ENV_FFMPEG}"
    bundled = bundled_ffmpeg()
    if bundled is None:
        raise ToolError(
            f"no FFmpeg: imageio-ffmpeg is not installed; pass --ffmpeg PATH or set {ENV_FFMPEG}"
        )
    return _usable(str(bundled), "bundled FFmpeg"), "bundled"


def _usable(candidate: str, origin: str) -> Path:
    path = Path(candidate)
    if not path.is_absolute() and os.sep not in candidate:
        found = shutil.which(candidate)
        if found is None:
            raise ToolError(f"{origin}: {candidate} is not on PATH")
        path = Path(found)
    if not path.exists():
        raise ToolError(f"{origin}: {path} does not exist")
    if path.is_dir() or not os.access(path, os.X_OK):
        raise ToolError(f"{origin}: {path} is not an executable file")
    return path.resolve()


def probe_ffmpeg(path: Path, source: str) -> FFmpeg:
    """Capabilities of one binary, from the disk cache when the binary is unchanged."""
    st = path.stat()
    key = f"{path}|{st.st_mtime_ns}|{st.st_size}"
    cached = _cache_read(key)
    if cached is not None:
        return FFmpeg(
            path=path,
            source=source,
            version=str(cached["version"]),
            encoders=frozenset(map(str, cached["encoders"])),
            filters=frozenset(map(str, cached["filters"])),
        )
    version = _read_version(path)
    encoders = _read_names(path, "-encoders")
    filters = _read_names(path, "-filters")
    _cache_write(
        key, {"version": version, "encoders": sorted(encoders), "filters": sorted(filters)}
    )
    return FFmpeg(path, source, version, encoders, filters)


ENV_PATCHED = "VMAFTUNE_PATCHED_FFMPEG"
ZOO_FILTERS = ("vmaf_pre", "vmaf_post", "vmaf_pre_temporal", "vmaf_tiny")


def patched_ffmpeg() -> FFmpeg | None:
    """The FFmpeg with all our filters (ZOO_FILTERS): $VMAFTUNE_PATCHED_FFMPEG when set (the
    value `none`: no patched FFmpeg, the Python engines everywhere), else the checkout's
    build/ffmpeg from `make ffmpeg`. None when it does not run or lacks the filters; the
    models then run in Python (vmaftune.zoo.inference)."""
    env = os.environ.get(ENV_PATCHED)
    if env == "none":
        return None
    built = Path(__file__).resolve().parents[2] / "build" / "ffmpeg" / "bin" / "ffmpeg"
    candidate, origin = (env, f"${ENV_PATCHED}") if env else (str(built), "make ffmpeg")
    try:
        found = probe_ffmpeg(_usable(candidate, origin), origin)
    except (ToolError, OSError):
        return None
    return found if all(found.has_filter(f) for f in ZOO_FILTERS) else None


def honours_roi(ffmpeg: FFmpeg, encoder: Encoder) -> bool:
    """Whether this FFmpeg's wrapper applies AVRegionOfInterest side data: always for
    some (encoders/*.toml `roi`), for others only with our patch's option."""
    if encoder.roi:
        return True
    if not encoder.roi_option or not ffmpeg.has_encoder(encoder.ffmpeg):
        return False
    return encoder.roi_option in encoder_options(ffmpeg.path, encoder.ffmpeg)


@cache
def encoder_options(path: Path, encoder: str) -> frozenset[str]:
    """The private options `ffmpeg -h encoder=NAME` lists ("  -name  <type> ...")."""
    done = process.run([str(path), "-hide_banner", "-h", f"encoder={encoder}"],
                       what=f"ffmpeg -h encoder={encoder}")  # fmt: skip
    return frozenset(re.findall(r"^\s+-(\S+)\s+<", done.stdout, flags=re.M))


def resolve(explicit: str | None = None) -> FFmpeg:
    path, source = locate(explicit)
    return probe_ffmpeg(path, source)


def _read_version(path: Path) -> str:
    done = process.run([str(path), "-hide_banner", "-version"], what="ffmpeg -version")
    first = done.stdout.splitlines()[0] if done.stdout else ""
    match = re.match(r"ffmpeg version (\S+)", first)
    if not match:
        raise ToolError(f"{path} does not look like FFmpeg (-version printed {first!r})")
    return match.group(1)


# `ffmpeg -encoders` / `-filters` list one entry a line after a legend that ends in a
# line of dashes (encoders) or starts with flag columns (filters): "<flags> <name> ...".
_ENCODER_LINE = re.compile(r"^ [VASFXBD.]{6} (\S+)")
_FILTER_LINE = re.compile(r"^ [TSC.]{2,3} (\S+) ")


def _read_names(path: Path, flag: str) -> frozenset[str]:
    done = process.run([str(path), "-hide_banner", flag], what=f"ffmpeg {flag}")
    pattern = _ENCODER_LINE if flag == "-encoders" else _FILTER_LINE
    names = set()
    for line in done.stdout.splitlines():
        match = pattern.match(line)
        if match and match.group(1) != "=":
            names.add(match.group(1))
    return frozenset(names)


def _cache_file() -> Path:
    return cache_dir() / "ffmpeg-capabilities.json"


def _cache_read(key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return None
    entry = data.get("binaries", {}).get(key)
    if not isinstance(entry, dict) or not {"version", "encoders", "filters"} <= entry.keys():
        return None
    return entry


def _cache_write(key: str, entry: dict[str, object]) -> None:
    file = _cache_file()
    try:
        try:
            data = json.loads(file.read_text())
            if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
                raise ValueError
        except (OSError, ValueError):
            data = {"version": CACHE_VERSION, "binaries": {}}
        data["binaries"][key] = entry
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, file)
    except OSError as exc:
        log.warning("capability cache not written (%s): %s", file, exc)


@dataclass(frozen=True)
class Trial:
    """Whether an encoder really opens here: a two-frame encode to the null muxer."""

    encoder: str
    usable: bool
    reason: str


@cache
def trial_encode(ffmpeg: FFmpeg, encoder: str, pix_fmt: str) -> Trial:
    # Not cached on disk: a GPU can appear or vanish while the binary stays the same.
    if not ffmpeg.has_encoder(encoder):
        return Trial(encoder, False, f"not built into {ffmpeg.path.name}")
    argv = ffmpeg.argv(
        "-f", "lavfi", "-i", "testsrc2=s=256x144:r=25:d=0.08",
        "-pix_fmt", pix_fmt, "-c:v", encoder, "-f", "null", "-",
    )  # fmt: skip
    done = process.run(argv, what=f"trial encode with {encoder}", check=False, timeout=60)
    if done.returncode == 0:
        return Trial(encoder, True, "ok")
    return Trial(encoder, False, _first_cause(done.stderr) or f"exit {done.returncode}")


def _first_cause(stderr: str) -> str:
    """The line of an FFmpeg failure that names the cause (the first one printed by the
    encoder itself), with the `[name @ 0x...]` prefix removed."""
    for line in stderr.splitlines():
        text = re.sub(r"^(\[[^\]]+\] ?)+", "", line).strip()
        if text:
            return text
    return ""
