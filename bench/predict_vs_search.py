"""Predict-then-verify against the per-shot search and against the physical limit (one
encode + one libvmaf score of the whole title at the encoder's default setting), side by
side in one run, on sources the predictor never saw (issue 18, Deliver 5).

Sources are split into folds (--folds). For each fold a predictor is trained on the corpus
(models/data/corpus.parquet) without the fold's sources or any of their augmented variants
(models/train/predictor.py --exclude; needs the train extra: torch), registered in a
private folder, and for each codec and target: the search, predict, and `single` (one
`encode_once`) run on each whole clip of the fold, through the public API in this
process. Reported per run: encodes per shot, compliance by stock libvmaf (each shot of OUT
against the same frames of the source, no vmaftune code: bench/stock.py), mean overshoot
over the target, bytes against the search's, and wall time against `single`'s; and
predict's verdicts.

Run: make bench  (or .venv/bin/python bench/predict_vs_search.py [--codecs x264,x265,svtav1]
     [--targets 90,93,95] [--folds bikes+vtest,megamind+tree] [--modes search,predict/4])
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
from bench.stock import stock_vmaf  # noqa: E402
from vmaftune.edges.toolchain import resolve  # noqa: E402
from vmaftune.zoo import corpus  # noqa: E402

CORPUS = ROOT / "models" / "data" / "corpus.parquet"
FOLDS = "bikes+vtest,megamind+tree,bigbuckbunny+carphone"


def clip(source: str) -> Path:
    (_, args), *_ = corpus.originals([source])
    return Path(args[-1].removeprefix("file:"))


def train(fold: tuple[str, ...], work: Path) -> tuple[Path, float]:
    folder = work / "models"
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "models/train/predictor.py"), "--corpus",
                    str(CORPUS), "--out", str(folder), "--exclude", ",".join(fold),
                    "--folds", "4", "--epochs", "150"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "models/train/register.py"),
                    str(folder / "vmaf_predictor.onnx"), "--id", "vmaf_predictor",
                    "--kind", "predictor", "--training", f"--exclude {','.join(fold)}",
                    "--description", "benchmark fold"],
                   check=True, capture_output=True)  # fmt: skip
    return folder, time.monotonic() - started


def encode(src: Path, codec: str, mode: str, target: float, out: Path, models: Path,
           max_interval: float | None) -> dict:  # fmt: skip
    """One run, in this process, through the public API: a per-shot mode (`search`,
    `predict`, either with `/N`: trials scored on every N-th frame), or `single`."""
    mode, _, sub = mode.partition("/")
    os.environ["VMAFTUNE_MODELS"] = str(models)  # the fold's registry
    started = time.monotonic()
    try:
        if mode == "single":
            once_req = vmaftune.OnceRequest(src, out, codec, force=True, audio=False)
            once = vmaftune.encode_once(once_req).wait()
            return {"shots": 0, "encodes": 1, "wall": time.monotonic() - started,
                    "bytes": once.output.video_bytes, "verdicts": [], "per_shot": []}  # fmt: skip
        options: dict = {"max_interval": max_interval} if mode == "predict" and max_interval else {}
        if sub:
            options["trial_subsample"] = int(sub)
        # Video only: the comparison is of the video, and some sources' audio (WMA) has
        # no place in .mkv.
        request = vmaftune.TargetRequest(src, out, codec, target, mode=mode, force=True,
                                         audio=False, **options)  # fmt: skip
        result = vmaftune.encode_target(request).wait()
    except vmaftune.VmaftuneError as exc:
        raise SystemExit(f"{mode} {codec} {src.name} failed: {exc.message}") from None
    wall = time.monotonic() - started
    shots = result.document["shots"]
    # The independent check: stock libvmaf on each shot of OUT, not the sidecar's numbers.
    ff = str(resolve().path)
    stock = [stock_vmaf(ff, out, src, s["start_frame"], s["end_frame"]) for s in shots]
    return {
        "shots": len(shots),
        "encodes": sum(len(s["probes"]) for s in shots),
        "wall": wall,
        "bytes": result.document["output"]["video_bytes"],
        "verdicts": [s["verdict"] for s in shots],
        "per_shot": stock,
        "parts": result.document["totals"].get("seconds_by_part", {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codecs", default="x264,x265,svtav1")
    ap.add_argument("--targets", default="90,93,95")
    ap.add_argument("--folds", default=FOLDS, help="a+b,c+d: sources held out together")
    ap.add_argument(
        "--modes",
        default="search,predict",
        help="per-shot modes; MODE/N scores trials on every N-th frame",
    )
    ap.add_argument("--max-interval", type=float, default=None,
                    help="passed to --mode predict (default: vmaftune's)")  # fmt: skip
    args = ap.parse_args()
    if not CORPUS.exists():
        sys.exit(f"{CORPUS} missing: vmaftune corpus build --out models/data")
    work = Path(tempfile.mkdtemp(prefix="vmaftune-pvs-"))
    targets = [float(t) for t in args.targets.split(",")]
    print("default presets, --jobs = cores; predictor trained per fold without the fold's "
          "sources; compliance by stock libvmaf per shot; bytes against the search's, wall "
          "against one encode + score of the title (`single`)")  # fmt: skip
    print("| codec | target | clip | mode | shots | encodes/shot | compliance | overshoot "
          "| bytes ÷ search | wall ÷ single | verdicts |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    totals: dict[tuple[str, float, str], list[dict]] = {}
    for fold in (tuple(f.split("+")) for f in args.folds.split(",")):
        fold_work = work / "-".join(fold)
        models, seconds = train(fold, fold_work)
        print(f"<!-- fold {fold}: predictor trained in {seconds:.0f} s -->", flush=True)
        for source in fold:
            src = clip(source)
            for codec in args.codecs.split(","):
                single = encode(src, codec, "single", 0.0, fold_work / f"{source}.{codec}.mkv",
                                models, None)  # fmt: skip
                for target in targets:
                    runs = {}
                    for mode in args.modes.split(","):
                        name = mode.replace("/", "-")
                        dest = fold_work / f"{source}.{codec}.{target:g}.{name}.mkv"
                        runs[mode] = encode(src, codec, mode, target, dest, models,
                                            args.max_interval)  # fmt: skip
                    for mode, r in runs.items():
                        r["single_wall"] = single["wall"]
                        r["search_bytes"] = runs.get("search", r)["bytes"]
                        r["target"] = target
                        totals.setdefault((codec, target, mode), []).append(r)
                        print(_row(codec, target, source, mode, r), flush=True)
    print()
    print("| codec | target | mode | shots | encodes/shot | compliance | mean overshoot "
          "| bytes ÷ search | wall ÷ single |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for (codec, target, mode), rs in sorted(totals.items()):
        print(_total(codec, target, mode, rs))
    print()
    print("Where the time went, as a share of one encode + score of the title (`single`), "
          "summed over the runs:")  # fmt: skip
    names = ("plan", "shots", "features", "trials", "join", "final_score")
    print("| codec | target | mode | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for (codec, target, mode), rs in sorted(totals.items()):
        single = sum(r["single_wall"] for r in rs)
        shares = [sum(r["parts"].get(n, 0.0) for r in rs) / single for n in names]
        print(f"| {codec} | {target:g} | {mode} | " + " | ".join(f"{v:.2f}" for v in shares) + " |")


def _row(codec: str, target: float, source: str, mode: str, r: dict) -> str:
    stock = r["per_shot"]
    verdicts = ", ".join(f"{v} {r['verdicts'].count(v)}" for v in sorted(set(r["verdicts"])))
    return (f"| {codec} | {target:g} | {source} | {mode} | {r['shots']} | "
            f"{r['encodes'] / r['shots']:.2f} | {sum(v >= target for v in stock)}/{len(stock)} | "
            f"{sum(v - target for v in stock) / len(stock):.2f} | "
            f"{r['bytes'] / r['search_bytes']:.3f} | {r['wall'] / r['single_wall']:.2f} | "
            f"{verdicts} |")  # fmt: skip


def _total(codec: str, target: float, mode: str, rs: list[dict]) -> str:
    stock = [v for r in rs for v in r["per_shot"]]
    shots = sum(r["shots"] for r in rs)
    return (f"| {codec} | {target:g} | {mode} | {shots} | "
            f"{sum(r['encodes'] for r in rs) / shots:.2f} | "
            f"{sum(v >= target for v in stock)}/{len(stock)} | "
            f"{sum(v - target for v in stock) / len(stock):.2f} | "
            f"{sum(r['bytes'] for r in rs) / sum(r['search_bytes'] for r in rs):.3f} | "
            f"{sum(r['wall'] for r in rs) / sum(r['single_wall'] for r in rs):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
