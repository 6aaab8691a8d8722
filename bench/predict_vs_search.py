"""Predict-then-verify against the per-shot search, side by side, on sources the
predictor never saw.

The six real clips are split into three pairs. For each pair a predictor is trained on
the corpus (models/data/corpus.parquet) without those two sources or any of their
augmented variants (models/train/predictor.py --exclude), registered in a private folder,
and both per-shot modes (`vmaftune.encode_target`, in this process) run on the two whole
clips with it ($VMAFTUNE_MODELS). Reported per mode: encodes per shot, floor compliance (shots whose
chosen encode reaches the target), mean overshoot over the target, output bytes and wall
time; and the predict mode's verdicts.

Run: make bench  (or .venv/bin/python bench/predict_vs_search.py [--codecs x264,x265])
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vmaftune  # noqa: E402
from vmaftune.zoo import corpus  # noqa: E402

CORPUS = ROOT / "models" / "data" / "corpus.parquet"
FOLDS = (("bikes", "vtest"), ("megamind", "tree"), ("bigbuckbunny", "carphone"))
TARGET = 93.0


def clip(source: str) -> Path:
    for sid, args in corpus.originals():
        if sid == source:
            return Path(args[-1].removeprefix("file:"))
    raise SystemExit(f"source {source} not found")


def train(fold: tuple[str, ...], work: Path) -> tuple[Path, float]:
    folder = work / "models"
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "models/train/predictor.py"), "--corpus",
                    str(CORPUS), "--out", str(folder), "--exclude", ",".join(fold)],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "models/train/register.py"),
                    str(folder / "vmaf_predictor.onnx"), "--id", "vmaf_predictor",
                    "--kind", "predictor", "--training", f"--exclude {','.join(fold)}",
                    "--description", "benchmark fold"],
                   check=True, capture_output=True)  # fmt: skip
    return folder, time.monotonic() - started


def encode(
    src: Path, codec: str, mode: str, out: Path, models: Path, max_interval: float | None
) -> dict:
    """One per-shot run, in this process, through the public API."""
    os.environ["VMAFTUNE_MODELS"] = str(models)  # the fold's registry
    options = {"max_interval": max_interval} if mode == "predict" and max_interval else {}
    request = vmaftune.TargetRequest(src, out, codec, TARGET, mode=mode, force=True, **options)
    started = time.monotonic()
    try:
        result = vmaftune.encode_target(request).wait()
    except vmaftune.VmaftuneError as exc:
        raise SystemExit(f"{mode} {codec} {src.name} failed: {exc.message}") from None
    wall = time.monotonic() - started
    doc = result.document
    shots = doc["shots"]
    chosen = [s["vmaf"]["mean"] for s in shots]
    return {
        "shots": len(shots),
        "encodes": sum(len(s["probes"]) for s in shots),
        "compliant": sum(v >= TARGET for v in chosen),
        "overshoot": sum(v - TARGET for v in chosen) / len(chosen),
        "bytes": doc["output"]["video_bytes"],
        "wall": wall,
        "verdicts": [s["verdict"] for s in shots],
        "features_seconds": doc["target"].get("predictor", {}).get("features_seconds", 0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codecs", default="x264,x265")
    ap.add_argument(
        "--max-interval",
        type=float,
        default=None,
        help="passed to --mode predict (default: vmaftune's)",
    )
    args = ap.parse_args()
    extra = ["--max-interval", str(args.max_interval)] if args.max_interval else []
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} missing: vmaftune corpus build --out models/data")
    work = Path(tempfile.mkdtemp(prefix="vmaftune-pvs-"))
    print(f"target VMAF {TARGET:g} (mean), tolerance 0.5, default presets, --jobs = cores; "
          "predictor trained per fold without the fold's sources; predict "
          f"{' '.join(extra)}")  # fmt: skip
    print("| codec | clip | shots | mode | encodes/shot | compliance | overshoot | bytes | wall s "
          "| verdicts |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals: dict[tuple[str, str], list[dict]] = {}
    for fold in FOLDS:
        fold_work = work / "-".join(fold)
        models, seconds = train(fold, fold_work)
        print(f"<!-- fold {fold}: predictor trained in {seconds:.0f} s -->", flush=True)
        for source in fold:
            src = clip(source)
            for codec in args.codecs.split(","):
                for mode in ("search", "predict"):
                    dest = fold_work / f"{source}.{codec}.{mode}.mkv"
                    r = encode(src, codec, mode, dest, models, args.max_interval)
                    totals.setdefault((codec, mode), []).append(r)
                    verdicts = ", ".join(f"{v} {r['verdicts'].count(v)}"
                                         for v in sorted(set(r["verdicts"])))  # fmt: skip
                    print(f"| {codec} | {source} | {r['shots']} | {mode} | "
                          f"{r['encodes'] / r['shots']:.2f} | {r['compliant']}/{r['shots']} | "
                          f"{r['overshoot']:.2f} | {r['bytes']} | {r['wall']:.1f} | {verdicts} |",
                          flush=True)  # fmt: skip
    print()
    print("| codec | mode | shots | encodes/shot | compliance | mean overshoot | bytes | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for (codec, mode), rs in sorted(totals.items()):
        shots = sum(r["shots"] for r in rs)
        enc = sum(r["encodes"] for r in rs)
        ok = sum(r["compliant"] for r in rs)
        over = sum(r["overshoot"] * r["shots"] for r in rs) / shots
        print(f"| {codec} | {mode} | {shots} | {enc / shots:.2f} | {ok}/{shots} | {over:.2f} | "
              f"{sum(r['bytes'] for r in rs)} | {sum(r['wall'] for r in rs):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
