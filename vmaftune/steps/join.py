"""Join the chosen shot segments into one file without re-encoding (the `write` step).

Packets are copied as they are; only their timestamps are rewritten, from the source's
own frame timestamps: a shot's k-th frame in display order gets the source's timestamp
of frame `shot.start + k`. Decode timestamps follow the same list, shifted back by the
largest reorder delay of any segment, so they rise monotonically and never pass a
presentation time. The source's audio is copied alongside, interleaved by time.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from vmaftune.edges.outputs import atomic_output
from vmaftune.errors import InputError, OutputError, ToolError, UsageError
from vmaftune.steps.probe import Timeline, local
from vmaftune.steps.shots import Shot


def _video_packets(path: Path) -> list[Any]:
    import av

    with av.open(local(path)) as container:
        stream = container.streams.video[0]
        return [p for p in container.demux(stream) if p.size]


def _extradata(path: Path) -> bytes:
    import av

    with av.open(local(path)) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def _pts(packet: Any) -> int:
    return int(packet.pts if packet.pts is not None else packet.dts)


def _display_ranks(packets: Sequence[Any]) -> list[int]:
    """Each packet's place in display order, in decode order."""
    order = {pts: k for k, pts in enumerate(sorted(_pts(p) for p in packets))}
    return [order[_pts(p)] for p in packets]


def reorder_delay(segments: Sequence[tuple[Shot, Path]], timeline: Timeline) -> int:
    """The smallest shift that keeps every decode time at or before its presentation."""
    delay = 0
    for shot, path in segments:
        packets = _video_packets(path)
        if len(packets) != shot.frames:
            raise ToolError(f"{path.name}: {len(packets)} packets for {shot.frames} frames")
        for j, rank in enumerate(_display_ranks(packets)):
            shown = timeline.pts[shot.start + rank]
            decoded = timeline.pts[shot.start + j]
            delay = max(delay, decoded - shown)
    return delay


def check_headers(segments: Sequence[tuple[Shot, Path]]) -> bytes:
    """The segments' shared stream headers; refuses segments that do not share them."""
    if not segments:
        raise InputError("nothing to join: no shots")
    headers = _extradata(segments[0][1])
    for _, path in segments[1:]:
        if _extradata(path) != headers:
            raise ToolError(
                f"{path.name}: its stream headers differ from the first shot's; the "
                "shots cannot be joined without re-encoding"
            )
    return headers


def retimed(
    segments: Sequence[tuple[Shot, Path]], timeline: Timeline, delay: int | None = None
) -> Iterator[tuple[Shot, Any]]:
    """Every video packet of the segments in decode order, with the source's timestamps
    (time base: the timeline's), each with the shot it belongs to. `delay` (ticks from
    decode to presentation) defaults to the segments' own; files that must line up with
    each other (a ladder's rungs) share the largest."""
    if delay is None:
        delay = reorder_delay(segments, timeline)
    tb: Fraction = timeline.time_base
    for shot, path in segments:
        packets = _video_packets(path)
        ranks = _display_ranks(packets)
        for j, packet in enumerate(packets):
            shown = shot.start + ranks[j]
            packet.pts = timeline.pts[shown]
            packet.dts = timeline.pts[shot.start + j] - delay
            # Until the next frame: the muxer takes the file's length from it.
            packet.duration = timeline.frame_duration(shown)
            packet.time_base = tb
            yield shot, packet


def require_audio(source: Path, output: Path) -> None:
    """Fail before any encode when OUT's container cannot take the source's audio as the
    join copies it (PyAV's muxer rules: an ASF's WMA into MP4 or MKV, for one)."""
    import av

    with av.open(local(source)) as src, tempfile.TemporaryDirectory() as tmp:
        streams = list(src.streams.audio)
        if not streams:
            return
        with av.open(str(Path(tmp) / f"check{output.suffix}"), "w") as out:
            for stream in streams:
                try:
                    out.add_stream_from_template(stream, opaque=True)
                except ValueError:
                    codec = stream.codec_context.name
                    raise UsageError(
                        f"{output}: {output.suffix} cannot carry the source's {codec} audio; "
                        "pass --no-audio, or choose a container that can"
                    ) from None


def join(
    segments: Sequence[tuple[Shot, Path]],
    timeline: Timeline,
    source: Path,
    output: Path,
    *,
    audio: bool,
) -> None:
    import av

    check_headers(segments)
    with atomic_output(output) as tmp:
        try:
            _mux(av, segments, timeline, source, tmp, audio)
        except av.error.FFmpegError as exc:
            raise OutputError(f"{output}: cannot write the joined file ({exc})") from exc


def _mux(
    av: Any,
    segments: Sequence[tuple[Shot, Path]],
    timeline: Timeline,
    source: Path,
    tmp: Path,
    audio: bool,
) -> None:
    with av.open(str(tmp), "w") as out, av.open(str(segments[0][1])) as first:
        video = out.add_stream_from_template(first.streams.video[0], opaque=True)
        video.time_base = timeline.time_base
        src = av.open(local(source))
        audio_out = {}
        try:
            if audio:
                for stream in src.streams.audio:
                    audio_out[stream.index] = out.add_stream_from_template(stream, opaque=True)

            def video_items() -> Iterator[tuple[float, int, Any]]:
                for _, packet in retimed(segments, timeline):
                    packet.stream = video
                    yield float(packet.dts * packet.time_base), 0, packet

            def audio_items() -> Iterator[tuple[float, int, Any]]:
                if not audio_out:
                    return
                for packet in src.demux([src.streams[i] for i in audio_out]):
                    if not packet.size or packet.dts is None:
                        continue
                    when = float(packet.dts * packet.time_base)
                    packet.stream = audio_out[packet.stream.index]
                    yield when, 1, packet

            merged = heapq.merge(video_items(), audio_items(), key=lambda item: item[:2])
            for _, _, packet in merged:
                out.mux(packet)
        finally:
            src.close()
