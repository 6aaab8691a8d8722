"""Building the predictor's training table (`vmaftune corpus build`): every variant of
every source found here → shots and features → the grid of encodes, each scored →
corpus.parquet and corpus.json. Finished encodes are kept, so a stopped build resumes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.edges.outputs import atomic_output, check_output
from vmaftune.edges.toolchain import FFmpeg, resolve
from vmaftune.errors import OutputError, UsageError
from vmaftune.run.events import Emit, Note, Run
from vmaftune.zoo import corpus


@dataclass(frozen=True)
class CorpusRequest:
    out: Path  # the folder for corpus.parquet and corpus.json
    work: Path | None = None  # clips and per-encode records; default OUT/work
    sources: str | None = None  # comma-separated source ids; None: all found
    codecs: str = "x264,x265,svtav1"
    augment: bool = True


@dataclass(frozen=True)
class CorpusResult:
    table: Path
    rows: int
    meta: dict[str, Any]  # what corpus.json holds


def build_corpus(request: CorpusRequest, ffmpeg: FFmpeg | None = None) -> Run[CorpusResult]:
    return Run(lambda emit: _run(request, ffmpeg or resolve(), emit))


def _choose(req: CorpusRequest) -> tuple[list[corpus.Variant], dict[str, tuple[float, ...]]]:
    chosen = corpus.variants(req.augment)
    if req.sources:
        wanted = set(req.sources.split(","))
        unknown = wanted - {v.source_id for v in chosen}
        if unknown:
            known = ", ".join(sorted({v.source_id for v in chosen}))
            raise UsageError(f"unknown --sources {', '.join(sorted(unknown))}; found: {known}")
        chosen = [v for v in chosen if v.source_id in wanted]
    grid = {}
    for codec in req.codecs.split(","):
        if codec not in corpus.GRID:
            raise UsageError(f"--codecs: {codec!r} is not one of {', '.join(corpus.GRID)}")
        grid[codec] = corpus.GRID[codec]
    return chosen, grid


def _run(req: CorpusRequest, ffmpeg: FFmpeg, emit: Emit) -> CorpusResult:
    chosen, grid = _choose(req)
    try:
        req.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{req.out}: cannot create the folder ({exc.strerror})") from None
    dest = req.out / "corpus.parquet"
    check_output(dest, [], force=True)
    work = req.work or req.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    table: list[dict[str, Any]] = []
    for n, v in enumerate(chosen, start=1):
        p = corpus.plan_clip(ffmpeg, v, work)
        t0 = time.monotonic()
        table.extend(corpus.rows(ffmpeg, p, grid, work))
        encodes = len(p.shots) * sum(map(len, grid.values()))
        emit(Note(f"[{n}/{len(chosen)}] {v.clip_id}: {len(p.shots)} shots, {encodes} encodes "
                  f"in {time.monotonic() - t0:.0f} s", kind="corpus"))  # fmt: skip
    meta = {
        "schema": corpus.SCHEMA,
        "command": " ".join(
            ["vmaftune corpus build --out", str(req.out), "--codecs", req.codecs]
            + (["--sources", req.sources] if req.sources else [])
            + ([] if req.augment else ["--no-augment"])
        ),
        "ffmpeg": ffmpeg.version,
        "grid": grid,
        "clips": [v.clip_id for v in chosen],
        "rows": len(table),
        "digest": corpus.table_digest(table),
        "wall_seconds": round(time.monotonic() - started, 1),
        "encode_seconds": round(sum(r["encode_seconds"] for r in table), 1),
        "score_seconds": round(sum(r["score_seconds"] for r in table), 1),
    }
    corpus.write_table(table, dest, meta)
    with atomic_output(req.out / "corpus.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
    return CorpusResult(dest, len(table), meta)
