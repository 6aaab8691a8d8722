"""FFmpeg's `-progress pipe:1` stream: blocks of key=value lines, each closed by
`progress=continue` or `progress=end`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PROGRESS_ARGS = ("-progress", "pipe:1", "-nostats")


@dataclass(frozen=True)
class Progress:
    frame: int
    out_time: float  # seconds of output written
    speed: float | None
    done: bool


class ProgressParser:
    """Feed it lines; it calls back once per completed block."""

    def __init__(self, callback: Callable[[Progress], None]) -> None:
        self._callback = callback
        self._block: dict[str, str] = {}

    def feed(self, line: str) -> None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return
        self._block[key] = value.strip()
        if key == "progress":
            self._callback(self._parse(self._block))
            self._block = {}

    @staticmethod
    def _parse(block: dict[str, str]) -> Progress:
        def number(key: str) -> float | None:
            raw = block.get(key, "").rstrip("x")
            try:
                return float(raw)
            except ValueError:
                return None

        micros = number("out_time_us")
        return Progress(
            frame=int(number("frame") or 0),
            out_time=max(0.0, (micros or 0.0) / 1e6),
            speed=number("speed"),
            done=block.get("progress") == "end",
        )
