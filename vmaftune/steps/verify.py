"""Before anything is published: what is about to be written is what was measured."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vmaftune.edges import process
from vmaftune.edges.toolchain import FFmpeg
from vmaftune.errors import InternalError, ToolError
from vmaftune.steps import cuts
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.probe import probe
from vmaftune.steps.score import FrameScore, Score, plan
from vmaftune.steps.score import pool as pool_values
from vmaftune.steps.score import run as run_score
from vmaftune.steps.trial import Job

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


def composed_whole(
    ffmpeg: FFmpeg, job: Job, results: Sequence[ShotResult], segments: Sequence[Path],
    work: Path,
) -> Score | None:  # fmt: skip
    """The output's whole-file VMAF, frame by frame, without scoring the whole file again:
    inside a shot every frame scores as in its accepted trial (the same frames, proven by
    check_frames, against the same source frames, proven by the cut's hashes; VIF and ADM
    see one frame, motion its neighbours, all inside the shot). Only the two frames at
    each cut see a neighbour from the other shot in the whole file: a 4-frame libvmaf run
    across each cut scores them in that context. None when some shot lacks per-frame
    scores (trusted to the predictor, subsampled) or is shorter than 2 frames: then the
    whole file is scored."""
    if job.vmaf.subsample > 1 or any(
        r.chosen.pooled is None or len(r.chosen.per_frame) != r.shot.frames or r.shot.frames < 2
        for r in results
    ):
        return None
    values = np.concatenate([np.asarray(r.chosen.per_frame, dtype=np.float64) for r in results])
    cut_pairs = list(zip(results, results[1:], segments, segments[1:], strict=False))

    def across(c: tuple[ShotResult, ShotResult, Path, Path]) -> tuple[float, float]:
        before, after, seg_before, seg_after = c
        return _across_cut(ffmpeg, job, after.shot.start, seg_before, before.shot.frames,
                           seg_after, work)  # fmt: skip

    # The windows are independent (a file each): as many at once as there are cores, so a
    # title of 1,500 cuts is not 1,500 serial FFmpeg runs on the joining machine.
    workers = max(1, min(len(cut_pairs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cut") as pool:
        found = list(pool.map(across, cut_pairs))
    for (_, after, _, _), pair in zip(cut_pairs, found, strict=True):
        at = after.shot.start
        values[at - 1], values[at] = pair
    frames = tuple(FrameScore(i, round(float(v), 4), ()) for i, v in enumerate(values))
    note = f"whole-file VMAF from the shots' trials and {len(results) - 1} cut window(s)"
    return Score(job.vmaf.model, frames, pool_values(values), (note,))


def _across_cut(
    ffmpeg: FFmpeg, job: Job, at: int, seg_before: Path, frames_before: int, seg_after: Path,
    work: Path,
) -> tuple[float, float]:  # fmt: skip
    """The whole-file VMAF of frames at-1 and at: libvmaf over frames at-2..at+1, the
    encode's taken from the two segments (stored losslessly), the source's from a verified
    cut. The outer two frames only give the inner two their neighbours."""
    window = work / f"cut{at}.mkv"
    graph = (
        f"[0:v]trim=start_frame={frames_before - 2},setpts=PTS-STARTPTS[a];"
        "[1:v]trim=end_frame=2,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1:a=0[w]"
    )
    process.run(
        ffmpeg.argv("-y", "-i", f"file:{seg_before}", "-i", f"file:{seg_after}",
                    "-filter_complex", graph, "-map", "[w]", "-fps_mode", "passthrough",
                    "-c:v", "ffv1", f"file:{window}"),
        what=f"the frames across the cut at frame {at}", writes=window,
    )  # fmt: skip
    encoded = probe(window)
    if encoded.frame_count != 4:
        raise ToolError(f"the window across the cut at frame {at} holds "
                        f"{encoded.frame_count} frames, not 4")  # fmt: skip
    cut = cuts.locate(ffmpeg, job.source, job.frames, at - 2, 4)
    scored = run_score(ffmpeg, plan(job.source, encoded, job.vmaf, window=cut))
    window.unlink(missing_ok=True)
    if len(scored.frames) != 4:
        raise ToolError(f"libvmaf scored {len(scored.frames)} of the 4 frames across the cut "
                        f"at frame {at}")  # fmt: skip
    return scored.frames[1].vmaf, scored.frames[2].vmaf
