"""A design probe for issue 19's item 2 (nothing here is shipped as a default): blend the
temporal denoiser's output by a texture mask, so that it denoises flat areas fully and
leaves texture, which VMAF counts, as it was.

The held-out benchmark showed why the plain blend costs bits: on diver and pampi-tour
vmaf_pre_tdn smooths away detail (+49 % / +31 % BD-rate at the validated ramp). Here the
mask is built from stock FFmpeg filters, so the idea is measured before any C is written:

    mask = lut(gblur(sobel(gblur(input, 1.5)), 3))   255 where the smoothed gradient is
           below t0, 0 above t1, linear between;
    out  = maskedmerge(input, vmaf_pre_temporal(input, strength=1), mask)

Gradients are in 8-bit code values of the blurred input: on flat grey with
`noise=alls=12` the blurred-noise gradient averages 7.9, so t0 sits above that.

    python models/train/prefilter_mask.py validation   # ~25 min on 2 cores
    python models/train/prefilter_mask.py heldout      # ~20 min

`validation` measures the variants on the validation split that chose the automatic ramp
(models/train/prefilter_auto.py VALIDATION, 40 frames); `heldout` measures the validation's
picks on the benchmark's held-out clips (bench/bdrate.py CLIPS, 30 frames), whose rivals'
rows are in docs/benchmarks.md. Both at the benchmark's grain (bench/bdrate.py NOISE,
alls=12) only. Results: the JSON named by --out (models/prefilter_mask.<split>.json) and
the benchmark's tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "models" / "train"))

import bdrate  # noqa: E402
from prefilter_auto import VALIDATION  # noqa: E402

TDN = "vmaf_pre_temporal=model=vmaf_pre_tdn:strength=1"
DN = "vmaf_pre=model=vmaf_pre_dn:strength=1"


def masked(model_filter: str, t0: float, t1: float, s: float) -> str:
    lut = f"lut=y='{255 * s}*clip(({t1}-val)/({t1 - t0})\\,0\\,1)'"
    return (
        f"split=3[a][b][c];[b]{model_filter}[d];"
        f"[c]gblur=sigma=1.5,sobel=planes=1,gblur=sigma=3:planes=1,{lut}[m];"
        f"[a][d][m]maskedmerge=planes=1"
    )


VARIANTS = {
    **{k: bdrate.FILTERS[k] for k in ("none", "hqdn3d", "nlmeans s=4")},
    "tdn ramp": bdrate.FILTERS["vmaf_pre_temporal (default)"],
    "tdn mask 8-20 s1": masked(TDN, 8, 20, 1.0),
    "tdn mask 10-30 s1": masked(TDN, 10, 30, 1.0),
    "tdn mask 10-30 s.75": masked(TDN, 10, 30, 0.75),
    "dn mask 10-30 s1": masked(DN, 10, 30, 1.0),
}
# Picked on the validation split: the best mean (10-30) and the one that cost no pair (8-20).
PICKS = ("none", "tdn mask 10-30 s1", "tdn mask 8-20 s1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("split", choices=("validation", "heldout"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.split == "validation":
        clips, frames, variants = VALIDATION, 40, VARIANTS
    else:
        clips, frames, variants = bdrate.CLIPS, bdrate.FRAMES, {k: VARIANTS[k] for k in PICKS}
    with tempfile.TemporaryDirectory() as work:
        res = bdrate.measure(clips, variants, Path(work), frames=frames)
    out = args.out or ROOT / "models" / f"prefilter_mask.{args.split}.json"
    out.write_text(json.dumps({"graphs": variants, "results": res}, indent=1) + "\n")
    bdrate.table(res, f"Texture mask, {args.split} split, {bdrate.NOISE}:")


if __name__ == "__main__":
    main()
