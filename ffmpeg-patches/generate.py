"""Regenerate the patch series from filters/ (`make patches`).

filters/ is the one source of truth for our C code; this script lays it onto a
pristine FFmpeg tree, registers each filter (allfilters.c, libavfilter/Makefile,
configure, doc/filters.texi), applies the changes to FFmpeg's own files kept as
diffs there (filters/*.diff) and writes `git format-patch` output with fixed
authors and dates, so the same inputs always give byte-identical patches. CI
runs it and fails when the committed series differs.

Usage: generate.py SRC_TARBALL_OR_DIR [--tree DIR]
  --tree DIR  also leave the patched git tree in DIR (for incremental builds)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERS = ROOT / "filters"
OUT = ROOT / "ffmpeg-patches"

IDENTITY = {
    "GIT_AUTHOR_NAME": "vmaftune developers",
    "GIT_AUTHOR_EMAIL": "dev@vmaftune.invalid",
    "GIT_COMMITTER_NAME": "vmaftune developers",
    "GIT_COMMITTER_EMAIL": "dev@vmaftune.invalid",
    "GIT_AUTHOR_DATE": "2026-11-22T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-11-22T00:00:00+00:00",
}


@dataclass(frozen=True)
class Filter:
    name: str
    objects: tuple[str, ...]
    deps: str = "libonnxruntime"
    select: str = "dnn"


@dataclass(frozen=True)
class Patch:
    subject: str
    body: str
    files: tuple[str, ...]
    filters: tuple[Filter, ...] = field(default_factory=tuple)
    diffs: tuple[str, ...] = ()  # changes to FFmpeg's files, applied with git apply


SERIES = (
    Patch(
        "avfilter/vmaf_model: resolve and check vmaftune models",
        "Registry ids resolve through registry.json; the file's place (inside\n"
        "the registry's folder), size (at most 50 MB), sha256 and weights (none\n"
        "kept in external files) are checked before ONNX Runtime reads it.\n"
        "Models load through the DNN module's onnx backend on the device asked for.",
        ("vmaf_registry.c", "vmaf_registry.h", "vmaf_model.c", "vmaf_model.h"),
    ),
    Patch(
        "avfilter: add vmaf_pre filter",
        "A learned pre-filter run by the DNN module's onnx backend, in place on\n"
        "8- and 10-bit planar YUV, luma or all planes, with a strength blend.",
        ("vf_vmaf_pre.c",),
        (Filter("vmaf_pre", ("vf_vmaf_pre.o", "vmaf_model.o", "vmaf_registry.o")),),
    ),
    Patch(
        "avfilter: add vmaf_post filter",
        "A no-reference VMAF model scores every frame as lavfi.vmaf_post.score\n"
        "metadata; the mean, minimum and 5th percentile are logged and can be\n"
        "written as JSON.",
        ("vf_vmaf_post.c",),
        (Filter("vmaf_post", ("vf_vmaf_post.o", "vmaf_model.o", "vmaf_registry.o")),),
    ),
    Patch(
        "avfilter: add vmaf_pre_temporal filter",
        "A learned denoiser that sees five frames, t-2..t+2, mirrored at the\n"
        "ends of the stream: one output per input with its timestamps, the last\n"
        "two drained at EOF; 8- and 10-bit planar YUV, luma or all planes.",
        ("vf_vmaf_pre_temporal.c",),
        (Filter("vmaf_pre_temporal", ("vf_vmaf_pre_temporal.o", "vmaf_model.o", "vmaf_registry.o")),),
    ),
    Patch(
        "avfilter: add vmaf_tiny filter",
        "A tiny full-reference model scores distorted against reference frames\n"
        "(two inputs paired by framesync, as libvmaf takes them) without libvmaf:\n"
        "lavfi.vmaf_tiny.score per frame, and the pooled scores at the end.",
        ("vf_vmaf_tiny.c",),
        (Filter("vmaf_tiny", ("vf_vmaf_tiny.o", "vmaf_model.o", "vmaf_registry.o", "framesync.o")),),
    ),
    Patch(
        "avfilter: add vmaf_roi filter",
        "A saliency model sees each frame's luma and the previous frame's and\n"
        "returns a value per 16x16 block; smoothed over time and turned into\n"
        "levels around the frame's mean, the blocks become AVRegionOfInterest\n"
        "side data (libx264, libx265, qsv, vaapi) and frame metadata.",
        ("vf_vmaf_roi.c",),
        (Filter("vmaf_roi", ("vf_vmaf_roi.o", "vmaf_model.o", "vmaf_registry.o")),),
    ),
    Patch(
        "avcodec/libsvtav1: honour regions of interest",
        "AVRegionOfInterest side data becomes SVT-AV1's ROI map (1.6.0 and\n"
        "later): regions laid on the 64x64 block grid, qoffset scaled to the\n"
        "qindex range as vaapi_encode_av1 does, at most eight offsets per frame.\n"
        "A map goes to the library only when it changes; the library keeps its\n"
        "pointer, so each map lives until every frame coded with it is out.",
        (),
        diffs=("libsvtav1_roi.diff",),
    ),
)


def insert_before(text: str, anchor: str, new: str, path: str) -> str:
    at = text.find(anchor)
    if at < 0:
        sys.exit(f"generate.py: anchor {anchor!r} not found in {path}")
    return text[:at] + new + text[at:]


def insert_after_line(text: str, anchor: str, new: str, path: str) -> str:
    at = text.find(anchor)
    if at < 0:
        sys.exit(f"generate.py: anchor {anchor!r} not found in {path}")
    end = text.index("\n", at) + 1
    return text[:end] + new + text[end:]


def register(tree: Path, f: Filter) -> None:
    def edit(rel: str, change) -> None:
        p = tree / rel
        p.write_text(change(p.read_text(encoding="utf-8"), rel), encoding="utf-8")

    # vmaf_* sorts before vmafmotion in every list FFmpeg keeps alphabetical.
    edit(
        "libavfilter/allfilters.c",
        lambda t, p: insert_before(
            t, "extern const FFFilter ff_vf_vmafmotion;", f"extern const FFFilter ff_vf_{f.name};\n", p
        ),
    )
    obj = f"OBJS-$(CONFIG_{f.name.upper()}_FILTER)".ljust(45) + "+= " + " ".join(f.objects) + "\n"
    edit("libavfilter/Makefile", lambda t, p: insert_before(t, "OBJS-$(CONFIG_VMAFMOTION_FILTER)", obj, p))
    cfg = f'{f.name}_filter_deps="{f.deps}"\n{f.name}_filter_select="{f.select}"\n'
    edit("configure", lambda t, p: insert_after_line(t, "vidstabtransform_filter_deps=", cfg, p))
    doc = (FILTERS / "doc" / f"{f.name}.texi").read_text(encoding="utf-8") + "\n"
    edit("doc/filters.texi", lambda t, p: insert_before(t, "@section vmafmotion\n", doc, p))


def git(tree: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    return subprocess.run(
        ["git", *args], cwd=tree, env=env, check=True, capture_output=True, text=True
    ).stdout


def pristine(source: Path, tree: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, tree, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    else:
        tree.mkdir(parents=True)
        with tarfile.open(source) as tar:
            for m in tar.getmembers():
                parts = Path(m.name).parts[1:]
                if not parts:
                    continue
                m.name = str(Path(*parts))
                tar.extract(m, tree, filter="tar")
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "FFmpeg n9.0.2")


def build_series(tree: Path) -> None:
    for patch in SERIES:
        for name in patch.files:
            shutil.copyfile(FILTERS / name, tree / "libavfilter" / name)
        for f in patch.filters:
            register(tree, f)
        for name in patch.diffs:
            git(tree, "apply", "--whitespace=error-all", str(FILTERS / name))
        git(tree, "add", "-A")
        git(tree, "commit", "-q", "-m", patch.subject, "-m", patch.body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="ffmpeg_9.0.2.orig.tar.xz or an unpacked tree")
    ap.add_argument("--tree", type=Path, help="keep the patched tree here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="vmaftune-patches.") as tmp:
        tree = args.tree or Path(tmp) / "src"
        if args.tree and args.tree.exists():
            sys.exit(f"generate.py: {args.tree} exists; give a new folder")
        pristine(args.source, tree)
        build_series(tree)
        staged = Path(tmp) / "out"
        git(tree, "format-patch", "-q", "--zero-commit", "--no-signature", "--full-index",
            "-o", str(staged), "HEAD~%d" % len(SERIES))
        for old in OUT.glob("*.patch"):
            old.unlink()
        for new in sorted(staged.glob("*.patch")):
            shutil.copyfile(new, OUT / new.name)
            print(f"generate.py: wrote {new.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
