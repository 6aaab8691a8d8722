"""Encoders described as data: `encoders/*.toml`, one file per family, loaded into typed,
immutable objects that render their own FFmpeg arguments."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vmaftune.errors import InternalError, UsageError

HARDWARE_NEEDS = {
    "none": "runs on the CPU",
    "nvidia": "an NVIDIA GPU with NVENC and its driver (libcuda.so.1)",
    "intel": "an Intel GPU with Quick Sync and a oneVPL/MSDK runtime (/dev/dri)",
}


@dataclass(frozen=True)
class QualityKnob:
    name: str  # "crf", "cq", "global_quality"
    option: str  # the FFmpeg option that carries it
    min: float
    max: float
    default: float
    step: float  # search resolution
    fractional: bool
    # Options the knob needs to mean constant quality (NVENC: -rc vbr -b:v 0).
    extra_args: tuple[str, ...] = ()
    # The range a target-quality search explores (narrower than what the encoder accepts:
    # the ends are never the answer for real targets and would cost probes).
    search_min: float = 0.0
    search_max: float = 0.0
    # The typical rise of the distortion log(100.5 - VMAF) per unit of the setting near
    # the targets in use: the search's step from a single measured point. 0: derived from
    # the search range (about 40 VMAF across it, at VMAF 93).
    log_slope: float = 0.0

    @property
    def prior_log_slope(self) -> float:
        if self.log_slope > 0:
            return self.log_slope
        return 40.0 / max(self.search_max - self.search_min, self.step) / 7.5

    def grid(self, value: float) -> float:
        """`value` snapped to the search grid (multiples of `step`) inside the search range."""
        snapped = round(value / self.step) * self.step
        return float(min(max(snapped, self.search_min), self.search_max))

    def check(self, value: float, encoder: str) -> float:
        if not self.min <= value <= self.max:
            raise UsageError(
                f"--{self.name} {value:g} is out of range for {encoder} "
                f"({self.min:g}..{self.max:g})"
            )
        if not self.fractional and value != int(value):
            raise UsageError(f"{encoder} takes whole --{self.name} values, not {value:g}")
        return value

    def render(self, value: float) -> str:
        return f"{value:g}" if self.fractional else str(int(value))


@dataclass(frozen=True)
class Encoder:
    name: str  # what users type: x264, svtav1, hevc_nvenc
    family: str
    ffmpeg: str  # FFmpeg's encoder name: libx264
    codec: str  # h264, hevc, av1
    aliases: tuple[str, ...]
    hardware: str  # none, nvidia, intel
    roi: bool  # honours AVRegionOfInterest side data in every FFmpeg build
    quality: QualityKnob
    preset_option: str
    presets: tuple[str, ...]
    default_preset: str
    pix_fmts: tuple[str, ...]
    pix_fmts_10bit: tuple[str, ...]
    default_pix_fmt: str
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())
    # Encoder-private parameters joined into one option (-x265-params a=1:b=2).
    params_option: str = ""
    params: tuple[str, ...] = ()
    # How to limit the encoder to {n} threads: plain options and/or private parameters.
    thread_args: tuple[str, ...] = ()
    thread_params: tuple[str, ...] = ()
    # Where the library's version shows in a tiny encode (its bytes and its stderr), with
    # the options and environment that make it show.
    version_regex: str = ""
    version_args: tuple[str, ...] = ()
    version_env: tuple[tuple[str, str], ...] = ()
    # Honours AVRegionOfInterest where its wrapper has this private option (a patch).
    roi_option: str = ""

    @property
    def all_pix_fmts(self) -> tuple[str, ...]:
        return self.pix_fmts + self.pix_fmts_10bit

    def pick_preset(self, preset: str | None) -> str:
        if preset is None:
            return self.default_preset
        if preset not in self.presets:
            raise UsageError(
                f"unknown preset {preset!r} for {self.name}; choose from {', '.join(self.presets)}"
            )
        return preset

    def pick_pix_fmt(self, pix_fmt: str | None, source_bit_depth: int = 8) -> str:
        if pix_fmt is None:
            if source_bit_depth > 8 and self.pix_fmts_10bit:
                return self.pix_fmts_10bit[0]
            return self.default_pix_fmt
        if pix_fmt not in self.all_pix_fmts:
            raise UsageError(
                f"{self.name} does not take pixel format {pix_fmt!r}; choose from "
                f"{', '.join(self.all_pix_fmts)}"
            )
        return pix_fmt

    def video_args(self, value: float, preset: str, pix_fmt: str, threads: int = 0) -> list[str]:
        """The video encoder's part of an FFmpeg command line; `threads` 0 leaves the
        encoder's own choice (all cores)."""
        args = [
            "-c:v", self.ffmpeg,
            self.preset_option, preset,
            self.quality.option, self.quality.render(value),
            *self.quality.extra_args,
            "-pix_fmt", pix_fmt,
            *self.extra_args,
        ]  # fmt: skip
        params = list(self.params)
        if threads > 0:
            args += [a.format(n=threads) for a in self.thread_args]
            params += [p.format(n=threads) for p in self.thread_params]
        if params:
            args += [self.params_option, ":".join(params)]
        return args


def data_dir(kind: str) -> Path:
    """`encoders/` or `models/`: inside the package when installed from a wheel, at the top
    of the repository in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / kind, here.parent / kind):
        if candidate.is_dir():
            return candidate
    raise InternalError(f"the {kind}/ data folder is missing from this installation")


def _knob(table: dict[str, Any], where: str) -> QualityKnob:
    try:
        return QualityKnob(
            name=str(table["name"]),
            option=str(table["option"]),
            min=float(table["min"]),
            max=float(table["max"]),
            default=float(table["default"]),
            step=float(table["step"]),
            fractional=bool(table["fractional"]),
            extra_args=tuple(table.get("extra_args", ())),
            search_min=float(table.get("search_min", table["min"])),
            search_max=float(table.get("search_max", table["max"])),
            log_slope=float(table.get("log_slope", 0.0)),
        )
    except KeyError as exc:
        raise InternalError(f"{where}: quality table lacks {exc}") from exc


def _encoder(table: dict[str, Any], family: str, where: str) -> Encoder:
    try:
        env = table.get("env", {})
        enc = Encoder(
            name=str(table["name"]),
            family=family,
            ffmpeg=str(table["ffmpeg"]),
            codec=str(table["codec"]),
            aliases=tuple(table.get("aliases", ())),
            hardware=str(table["hardware"]),
            roi=bool(table["roi"]),
            quality=_knob(table["quality"], where),
            preset_option=str(table["preset_option"]),
            presets=tuple(table["presets"]),
            default_preset=str(table["default_preset"]),
            pix_fmts=tuple(table["pix_fmts"]),
            pix_fmts_10bit=tuple(table["pix_fmts_10bit"]),
            default_pix_fmt=str(table["default_pix_fmt"]),
            extra_args=tuple(table.get("extra_args", ())),
            env=tuple(sorted(env.items())),
            params_option=str(table.get("params_option", "")),
            params=tuple(table.get("params", ())),
            thread_args=tuple(table.get("thread_args", ())),
            thread_params=tuple(table.get("thread_params", ())),
            version_regex=str(table.get("version_regex", "")),
            version_args=tuple(table.get("version_args", ())),
            version_env=tuple(sorted(table.get("version_env", {}).items())),
            roi_option=str(table.get("roi_option", "")),
        )
    except KeyError as exc:
        raise InternalError(f"{where}: encoder table lacks {exc}") from exc
    q = enc.quality
    if not (q.min <= q.search_min <= q.default <= q.search_max <= q.max) or q.step <= 0:
        raise InternalError(f"{where}: {enc.name}: inconsistent quality range")
    if (enc.params or enc.thread_params) and not enc.params_option:
        raise InternalError(f"{where}: {enc.name}: params without params_option")
    if enc.default_preset not in enc.presets or enc.default_pix_fmt not in enc.pix_fmts:
        raise InternalError(f"{where}: {enc.name}: default preset or pixel format not listed")
    if enc.hardware not in HARDWARE_NEEDS:
        raise InternalError(f"{where}: {enc.name}: unknown hardware {enc.hardware!r}")
    return enc


@cache
def load_all(folder: Path | None = None) -> tuple[Encoder, ...]:
    folder = folder or data_dir("encoders")
    found: list[Encoder] = []
    for file in sorted(folder.glob("*.toml")):
        try:
            doc = tomllib.loads(file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InternalError(f"{file}: {exc}") from exc
        family = str(doc.get("family", file.stem))
        found.extend(_encoder(t, family, str(file)) for t in doc.get("encoder", []))
    # Software encoders first: they run anywhere.
    found.sort(key=lambda e: e.hardware != "none")
    names = [n for e in found for n in {e.name, e.ffmpeg, *e.aliases}]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise InternalError(f"encoder names used twice: {', '.join(sorted(duplicates))}")
    return tuple(found)


def get(name: str) -> Encoder:
    wanted = name.strip().lower()
    for enc in load_all():
        if wanted in {enc.name, enc.ffmpeg, *enc.aliases}:
            return enc
    known = sorted({n for e in load_all() for n in (e.name, *e.aliases)})
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"unknown codec {name!r}{hint} (see `vmaftune encoders`)")
