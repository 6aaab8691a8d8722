"""Stock libvmaf, with none of vmaftune's code involved: the independent check that tests
and benchmarks hold our scores against."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path


def stock_vmaf(
    ffmpeg: str,
    dis: Path,
    ref: Path,
    start: int,
    end: int,
    *,
    dis_trimmed: bool = False,
    upscale: tuple[int, int] | None = None,
) -> float:
    """Mean VMAF of frames [start, end) of `ref` against the same frames of `dis` (or
    against all of `dis` when it holds only those frames), `dis` optionally scaled up to
    the reference's size with bicubic first. Frames are picked and paired by their index
    in a decode from the start, whatever the files' timestamps say."""
    index = "settb=1/1000,setpts=N"
    trim = f"trim=start_frame={start}:end_frame={end},{index}"
    dis_chain = index if dis_trimmed else trim
    if upscale:
        dis_chain += f",scale={upscale[0]}:{upscale[1]}:flags=bicubic"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "vmaf.json"
        subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(dis),
             "-i", str(ref), "-lavfi",
             f"[0:v]{dis_chain}[d];[1:v]{trim}[r];[d][r]libvmaf=log_fmt=json:log_path={log}",
             "-f", "null", "-"],
            check=True,
        )  # fmt: skip
        return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])
