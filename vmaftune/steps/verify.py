"""Before anything is published: what is about to be written is what was measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InternalError, ToolError
from vmaftune.steps import cuts
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.score import Score
from vmaftune.steps.score import pool as pool_values

# How far a frame's VMAF in the whole-file pass may lie from the same frame's in the shot's
# accepted trial.
SHIPPED_TOLERANCE = 0.05


def check_shipped(
    ffmpeg: FFmpeg, results: Sequence[ShotResult], segments: Sequence[Path], joined: Path,
    whole: Score, pool: str,
) -> None:  # fmt: skip
    """The joined file's frames are, shot by shot, the scored segments' frames, and its
    whole-file VMAF equals, frame by frame, each shot's accepted trial. Raises naming the
    shots that are not."""
    cuts.check_frames(
        ffmpeg, joined, [(r.shot.index, s) for r, s in zip(results, segments, strict=True)]
    )
    values = np.array([f.vmaf for f in whole.frames], dtype=np.float64)
    if len(values) != sum(r.shot.frames for r in results):
        raise ToolError(f"the whole-file score covers {len(values)} frames, the shots "
                        f"{sum(r.shot.frames for r in results)}; not published")  # fmt: skip
    wrong = []
    for r in results:
        if r.chosen.pooled is None:
            continue  # trusted to the predictor: never scored alone
        # A shot's first and last frames are the ones libvmaf scores differently in the
        # whole file: its motion feature looks across the shot boundary there (at the
        # previous shot's last frame, the next shot's first) and sees nothing when the
        # shot is scored alone. Their identity is the hash check's.
        whole_shot = values[r.shot.start + 1 : r.shot.end - 1]
        alone = np.array(r.chosen.per_frame[1:-1], dtype=np.float64)
        if len(alone) != len(whole_shot):
            raise InternalError(f"shot {r.shot.index}: its accepted trial kept no per-frame VMAF")
        off = float(np.abs(whole_shot - alone).max()) if len(alone) else 0.0
        if off > SHIPPED_TOLERANCE:
            got = pool_values(values[r.shot.start : r.shot.end]).get(pool)
            wrong.append(
                f"{r.shot.index} ({pool} {got:.2f}, scored {r.chosen.scores.get(pool):.2f})"
            )
    if wrong:
        raise ToolError("the joined output's VMAF contradicts its shots: shot "
                        f"{', '.join(wrong)}; not published")  # fmt: skip
