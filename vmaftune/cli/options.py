"""Option types that several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

Engine = Annotated[
    str,
    typer.Option(
        help="Where zoo models run: auto (the patched FFmpeg's filters when present, else "
        "Python), ffmpeg or python. Both give the same frames and scores."
    ),
]
MinShot = Annotated[float, typer.Option("--min-shot", help="Shortest shot, seconds.")]
MaxShot = Annotated[
    float, typer.Option("--max-shot", help="Longest shot, seconds; longer shots are split.")
]
Sensitivity = Annotated[
    float, typer.Option(help="Hard-cut threshold: times the local median change.")
]
# Options of every per-shot search command (encode --target-vmaf, ladder).
Pool = Annotated[str, typer.Option(help="Per-shot pooling: mean, harmonic, p5, min.")]
Tolerance = Annotated[
    float, typer.Option(help="Stop once a shot is at most this far above the target.")
]
SearchMethod = Annotated[str, typer.Option("--search", help="interpolate or bisect.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", help="Shots at once; 0 = cores.")]
KeepWork = Annotated[
    bool, typer.Option("--keep-work", help="Keep the work folder and every segment.")
]
PixFmt = Annotated[
    str | None, typer.Option("--pix-fmt", help="Output pixel format (10-bit: *10le).")
]
Preset = Annotated[str | None, typer.Option(help="Encoder preset.")]
Codec = Annotated[str, typer.Option("--codec", "-c", help="See `vmaftune encoders`.")]
AsJson = Annotated[bool, typer.Option("--json", help="NDJSON events on stdout.")]
Report = Annotated[
    bool,
    typer.Option(
        "--report",
        help="Also draw the result as a self-contained HTML page (OUT.report.html; a "
        "ladder's DIR/report.html); see vmaftune report.",
    ),
]
Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Per-shot runs: where shots are decided: local (threads, --jobs) or ray (one "
        "Ray task per shot; the work folder must be on storage every node sees).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="--executor ray: the cluster to join (host:port; default $RAY_ADDRESS, else a "
        "Ray started on this machine).",
    ),
]
