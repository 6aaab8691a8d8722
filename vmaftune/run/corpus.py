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
    ids = req.sources.split(",") if req.sources else None
    chosen = corpus.variants(req.augment, ids)
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
    seed = corpus.seed_from(dest) if dest.exists() else {}
    if seed:
        emit(Note(f"reusing {len(seed)} encodes of the earlier {dest}", kind="corpus"))
    table: list[dict[str, Any]] = []
    for n, v in enumerate(chosen, start=1):
        p = corpus.plan_clip(ffmpeg, v, work, seed)
        t0 = time.monotonic()
        table.extend(corpus.rows(ffmpeg, p, grid, work, seed=seed))
        encodes = len(p.shots) * sum(map(len, grid.values()))
        emit(Note(f"[{n}/{len(chosen)}] {v.clip_id}: {len(p.shots)} shots, {encodes} encodes "
                  f"in {time.monotonic() - t0:.0f} s", kind="corpus"))  # fmt: skip
        # The table so far, after every clip: a build stopped here (or on another
        # machine, from the committed table) starts again from it.
        # The earlier table's rows not reached yet stay in it.
        done = {tuple(r[k] for k in corpus.SEED_KEY) for r in table}
        pending = [r for k, r in seed.items() if k not in done]
        _write(req, dest, table + pending, _meta(req, ffmpeg, grid, chosen[:n], table, started,
                                                 seed, complete=n == len(chosen)))  # fmt: skip
    meta = _meta(req, ffmpeg, grid, chosen, table, started, seed, complete=True)
    _write(req, dest, table, meta)
    return CorpusResult(dest, len(table), meta)


def _meta(
    req: CorpusRequest,
    ffmpeg: FFmpeg,
    grid: dict[str, tuple[float, ...]],
    chosen: list[corpus.Variant],
    table: list[dict[str, Any]],
    started: float,
    seed: corpus.Seed,
    *,
    complete: bool,
) -> dict[str, Any]:
    reused = sum(tuple(r[k] for k in corpus.SEED_KEY) in seed for r in table)
    return {
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
        "reused_rows": reused,  # taken from the earlier table, not encoded by this build
        "complete": complete,
    }


def _write(
    req: CorpusRequest, dest: Path, table: list[dict[str, Any]], meta: dict[str, Any]
) -> None:
    if table:
        corpus.write_table(table, dest, meta)
    with atomic_output(req.out / "corpus.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
