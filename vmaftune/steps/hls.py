"""HLS output for a ladder rung: the chosen shot segments become one fragmented MP4
(CMAF-style: an init segment, then one media segment per shot) and a media playlist;
the rungs together get a master playlist.

fMP4 rather than MPEG-TS because Apple's HLS authoring rules require it for HEVC and
AV1, and it serves H.264 as well: one packaging for every codec. The MP4 muxer starts a
fragment at every keyframe (`frag_keyframe`); every shot starts on a keyframe, so a
shot's media segment is a run of whole fragments, cut at the box level without
re-muxing. Segment boundaries sit at shot starts, which are the same frames in every
rung: the rungs' segments align.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vmaftune.errors import OutputError, ToolError
from vmaftune.steps.join import check_headers, retimed
from vmaftune.steps.probe import Timeline
from vmaftune.steps.shots import Shot

INIT = "init.mp4"
PLAYLIST = "index.m3u8"
MASTER = "master.m3u8"
# Fragment per keyframe; moof-relative offsets so each segment stands alone after the init.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


@dataclass(frozen=True)
class MediaSegment:
    shot: Shot
    name: str
    bytes: int

    @property
    def duration(self) -> float:
        return self.shot.duration


@dataclass(frozen=True)
class Variant:
    """One rung as the master playlist lists it."""

    playlist: str  # relative to the master playlist
    width: int
    height: int
    codecs: str
    peak_bitrate: int  # bits/s of the largest segment: HLS BANDWIDTH
    average_bitrate: int  # bits/s over the whole rung: AVERAGE-BANDWIDTH
    frame_rate: float


def boxes(data: bytes) -> list[tuple[str, int, int]]:
    """Top-level ISO BMFF boxes as (type, offset, size)."""
    found = []
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = len(data) - at
        if size < header or at + size > len(data):
            raise ToolError(f"malformed MP4 box {kind!r} at byte {at}")
        found.append((kind.decode("latin-1"), at, size))
        at += size
    return found


def codecs(codec: str, extradata: bytes) -> str:
    """The RFC 6381 codec string from the stream's decoder configuration record."""
    if codec == "h264" and len(extradata) >= 4 and extradata[0] == 1:
        return f"avc1.{extradata[1]:02X}{extradata[2]:02X}{extradata[3]:02X}"
    if codec == "hevc" and len(extradata) >= 13 and extradata[0] == 1:
        space = "ABC"[(extradata[1] >> 6) - 1] if extradata[1] >> 6 else ""
        tier = "H" if extradata[1] & 0x20 else "L"
        profile = extradata[1] & 0x1F
        # The compatibility flags are written bit-reversed, in hex, without leading zeros.
        compat = int(f"{int.from_bytes(extradata[2:6], 'big'):032b}"[::-1], 2)
        constraints = extradata[6:12].rstrip(b"\0")
        parts = [f"hvc1.{space}{profile}", f"{compat:X}", f"{tier}{extradata[12]}"]
        parts += [f"{b:X}" for b in constraints]
        return ".".join(parts)
    if codec == "av1" and len(extradata) >= 4 and extradata[0] == 0x81:
        profile = extradata[1] >> 5
        level = extradata[1] & 0x1F
        tier = "H" if extradata[2] & 0x80 else "M"
        depth = 12 if extradata[2] & 0x20 else 10 if extradata[2] & 0x40 else 8
        return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"
    raise ToolError(f"no HLS codec string for {codec} (extradata {len(extradata)} bytes)")


def write_rung(
    segments: Sequence[tuple[Shot, Path]],
    timeline: Timeline,
    folder: Path,
    *,
    delay: int,
    check: Callable[[Path], None] | None = None,
) -> tuple[list[MediaSegment], str]:
    """Write init.mp4, one .m4s per shot and index.m3u8 into `folder` (which the caller
    renames into place when the whole ladder is done). `delay` is the ladder-wide decode
    delay, so every rung's frames carry the same timestamps; `check` sees the rung as one
    file before it is split. Returns the segments and the codec string."""
    import av

    headers = check_headers(segments)
    whole = folder / ".rung.mp4"
    keyframes = {shot.index: 0 for shot, _ in segments}
    codec = ""
    try:
        with av.open(str(whole), "w", format="mp4", options={"movflags": MOVFLAGS}) as out, \
                av.open(str(segments[0][1])) as first:  # fmt: skip
            template = first.streams.video[0]
            codec = template.codec_context.name
            video = out.add_stream_from_template(template, opaque=True)
            video.time_base = timeline.time_base
            if codec == "hevc":
                # hvc1: parameter sets only in the init segment, which Apple players need.
                video.codec_tag = "hvc1"
            for shot, packet in retimed(segments, timeline, delay):
                keyframes[shot.index] += bool(packet.is_keyframe)
                packet.stream = video
                out.mux(packet)
    except av.error.FFmpegError as exc:
        raise OutputError(f"{folder}: cannot write the rung's MP4 ({exc})") from exc
    if check is not None:
        check(whole)
    data = whole.read_bytes()
    whole.unlink()
    found = boxes(data)
    first_moof = next((k for k, (kind, _, _) in enumerate(found) if kind == "moof"), len(found))
    init = found[:first_moof]
    if not init or init[-1][0] != "moov":
        raise ToolError("the fragmented MP4 has no moov before its first fragment")
    fragments = _fragments(found[first_moof:])
    if len(fragments) != sum(keyframes.values()):
        raise ToolError(
            f"{len(fragments)} fragments for {sum(keyframes.values())} keyframes: cannot "
            "cut the rung at shot starts"
        )
    (folder / INIT).write_bytes(data[: init[-1][1] + init[-1][2]])
    written = []
    at = 0
    for shot, _ in segments:
        runs = fragments[at : at + keyframes[shot.index]]
        at += keyframes[shot.index]
        name = f"shot{shot.index:05d}.m4s"
        body = b"".join(data[start:end] for start, end in runs)
        (folder / name).write_bytes(body)
        written.append(MediaSegment(shot, name, len(body)))
    (folder / PLAYLIST).write_text(media_playlist(written))
    return written, codecs(codec, headers)


def _fragments(found: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """(start, end) byte ranges of each moof and the boxes up to the next moof."""
    runs: list[tuple[int, int]] = []
    for kind, offset, size in found:
        if kind == "moof":
            runs.append((offset, offset + size))
        elif kind == "mfra":  # random-access index at the end: not part of any segment
            continue
        elif runs:
            runs[-1] = (runs[-1][0], offset + size)
    return runs


def media_playlist(segments: Sequence[MediaSegment]) -> str:
    # EXTINF rounded to the nearest integer must not exceed the target duration.
    target = max(1, max(math.floor(s.duration + 0.5) for s in segments))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT}"',
    ]
    for s in segments:
        lines += [f"#EXTINF:{s.duration:.6f},", s.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[Variant]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.peak_bitrate},"
            f"AVERAGE-BANDWIDTH={v.average_bitrate},RESOLUTION={v.width}x{v.height},"
            f'CODECS="{v.codecs}",FRAME-RATE={v.frame_rate:.3f}'
        )
        lines.append(v.playlist)
    return "\n".join(lines) + "\n"


def bitrates(segments: Sequence[MediaSegment], init_bytes: int) -> tuple[int, int]:
    """(peak, average) bits/s: the peak over segments, as HLS defines BANDWIDTH."""
    seconds = sum(s.duration for s in segments)
    peak = max(s.bytes * 8 / s.duration for s in segments if s.duration > 0)
    average = (sum(s.bytes for s in segments) + init_bytes) * 8 / seconds
    return math.ceil(peak), math.ceil(average)


def frame_rate(timeline: Timeline) -> float:
    seconds = timeline.end_seconds()
    return timeline.frame_count / seconds if seconds > 0 else 0.0
