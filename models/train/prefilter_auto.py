"""Choose the pre-filters' automatic strength (issue 19) for the rate-quality objective: bits
at equal VMAF against the clean source, on a validation split that the reported benchmark
(bench/bdrate.py) never uses.

The denoisers (vmaf_pre_dn, vmaf_pre_tdn) were trained for fidelity to the clean frame, and
at full strength they remove texture that VMAF rewards, so they cost bits. Instead of the
model's output, the filters blend `x + s * (model(x) - x)` with a strength s read from the
frame's measured noise (vmaftune.zoo.noise, Immerkaer): s = 0 below a gate (clean content
passes bit-exact), then a ramp to a ceiling. This script measures, on the validation clips,
each model's BD-rate (x264 and x265 medium, VMAF against the clean clip) for a grid of
fixed strengths at several grain levels and on the clean clips, and picks:

- per grain level the strength with the lowest mean BD-rate over clips and codecs (0
  included: a model that never helps gets s = 0 everywhere, the safe default);
- the gate: the noise (median over the clips) of the heaviest level at which even that
  best strength saves less than WORTH percent on average (light grain: what filtering
  saves there is small and some clip x codec pairs lose), or, when every level pays,
  halfway between the noisiest clean clip and the lightest level;
- the ceiling: the largest best strength, reached (`full`) at the lightest level that
  wants it; linear from the gate to there, flat above.

    python models/train/prefilter_auto.py --out models   # ~40 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bdrate  # noqa: E402

# Not in the denoisers' training (bigbuckbunny, bikes, carphone, megamind) and not in the
# benchmark's held-out clips (bench/bdrate.py CLIPS).
VALIDATION = ("coin-table", "office-talk", "tupi-cartoon", "webcam-smile")
LEVELS = (6, 12, 20)  # FFmpeg noise alls=: temporal grain, as bench/bdrate.py
FRAMES = 40
CRFS = (20, 24, 28, 32, 36, 40)
STRENGTHS = {"vmaf_pre_dn": (0.25, 0.5, 0.75), "vmaf_pre_tdn": (0.25, 0.5, 0.75, 1.0)}
FILTER = {"vmaf_pre_dn": "vmaf_pre", "vmaf_pre_tdn": "vmaf_pre_temporal"}
WORTH = 2.0  # percent: a mean saving below this does not pay for the pairs it costs


def graphs(clean: bool) -> dict[str, str]:
    out = {"none": "null"}
    for model, grid in STRENGTHS.items():
        for s in grid[:1] if clean else grid:
            out[f"{model} {s}"] = f"{FILTER[model]}=model={model}:strength={s}"
    return out


def summarize(runs: dict[str, dict]) -> dict:
    """Mean BD-rate per (condition, filter) over clips and codecs, and each condition's
    measured noise."""
    table: dict[str, dict] = {}
    for cond, res in runs.items():
        sig = [r["sigma"] for r in res.values()]
        rows: dict[str, list[float]] = {}
        for r in res.values():
            base = r["filters"]["none"]
            for label, e in r["filters"].items():
                if label != "none":
                    rows.setdefault(label, []).extend(
                        bdrate.bd_rate(base[c], e[c]) for c in bdrate.CODECS
                    )
        table[cond] = {
            "sigma": [min(sig), float(np.median(sig)), max(sig)],
            "bdrate": {k: round(float(np.mean(v)), 2) for k, v in rows.items()},
            "worst": {k: round(float(np.max(v)), 2) for k, v in rows.items()},
        }
    return table


def choose(table: dict) -> dict:
    """The ramp of each model from the validation table (see the module's docstring)."""
    clean_max = table["clean"]["sigma"][2]
    levels = [(table[f"alls={n}"]["sigma"][1], table[f"alls={n}"]) for n in LEVELS]
    chosen = {}
    for model, grid in STRENGTHS.items():
        best = []
        for sigma, t in levels:
            options = [(0.0, 0.0)] + [(t["bdrate"][f"{model} {s}"], s) for s in grid]
            mean, strength = min(options)
            best.append((sigma, strength, mean, t["worst"].get(f"{model} {strength}", 0.0)))
        # Below a level where even the best strength saves under WORTH, filtering is not
        # worth its risk: the gate sits at that level's noise.
        skipped = [sig for sig, _, mean, _ in best if mean > -WORTH]
        gate = max(skipped) if skipped else (clean_max + best[0][0]) / 2
        ceiling = max(s for _, s, _, _ in best)
        full = min(sig for sig, s, _, _ in best if s == ceiling) if ceiling > 0 else gate
        # Multiples of 1/4: C floats hold them exactly, so both engines ramp alike.
        gate = max(np.floor(gate * 4) / 4, np.ceil(clean_max * 4 + 1e-9) / 4)
        full = max(np.round(full * 4) / 4, gate)
        chosen[model] = {"gate": float(gate), "full": float(full), "ceiling": ceiling,
                         "best_per_level": best}  # fmt: skip
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models")
    ap.add_argument("--resume", type=Path, help="a previous run's raw JSON: skip its conditions")
    args = ap.parse_args()
    os.environ.setdefault("VMAFTUNE_MODELS", str(ROOT / "models"))
    started = time.time()
    raw_path = args.out / "prefilter_auto.raw.json"
    runs: dict[str, dict] = json.loads(args.resume.read_text()) if args.resume else {}
    conditions = {
        "clean": None,
        **{f"alls={n}": f"noise=alls={n}:allf=t:all_seed=11" for n in LEVELS},
    }
    with tempfile.TemporaryDirectory(prefix="vmaftune-preauto-") as tmp:
        for cond, grain in conditions.items():
            if cond in runs:
                continue
            runs[cond] = bdrate.measure(VALIDATION, graphs(grain is None), Path(tmp),
                                        grain=grain, frames=FRAMES, crfs=CRFS)  # fmt: skip
            raw_path.write_text(json.dumps(runs, indent=1) + "\n")
    table = summarize(runs)
    result = {"validation": VALIDATION, "frames": FRAMES, "crfs": CRFS,
              "codecs": list(bdrate.CODECS), "conditions": table, "chosen": choose(table),
              "seconds": round(time.time() - started)}  # fmt: skip
    (args.out / "prefilter_auto.metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
