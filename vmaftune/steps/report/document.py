"""What a report is drawn from: a sidecar (`vmaftune.shots/1`) or a ladder
(`vmaftune.ladder/1`), read and checked enough that drawing it cannot fail half-way."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.errors import InputError
from vmaftune.steps import sidecar
from vmaftune.steps.score import POOL_ALIASES


@dataclass(frozen=True)
class Document:
    path: Path  # the JSON file read
    kind: str  # "shots" or "ladder"
    data: dict[str, Any]

    @property
    def name(self) -> str:
        """What the page is about: OUT's file name, or the ladder's folder."""
        if self.kind == "ladder":
            return self.path.parent.name
        return Path(str(self.data["output"]["path"])).name


def locate(path: Path) -> Path:
    """The JSON behind a path: itself, a ladder folder's ladder.json, or OUT's
    OUT.shots.json."""
    if path.is_dir():
        if (path / "ladder.json").is_file():
            return path / "ladder.json"
        raise InputError(f"{path}: a folder without ladder.json; give a sidecar or a ladder")
    if path.suffix != ".json" and sidecar.paths(path)[0].is_file():
        return sidecar.paths(path)[0]
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return path


def read(path: Path) -> Document:
    found = locate(path)
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{found}: not a vmaftune sidecar or ladder (not text)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{found}: not a vmaftune sidecar or ladder (bad JSON: {exc})") from exc
    except OSError as exc:
        raise InputError(f"{found}: cannot read it ({exc.strerror or exc})") from exc
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == sidecar.SCHEMA:
        doc = Document(found, "shots", data)
    elif schema == sidecar.LADDER_SCHEMA:
        doc = Document(found, "ladder", data)
    else:
        raise InputError(
            f"{found}: not a vmaftune sidecar or ladder (schema {schema!r}; expected "
            f"{sidecar.SCHEMA} or {sidecar.LADDER_SCHEMA})"
        )
    _check(doc)
    return doc


def _check(doc: Document) -> None:
    """The keys the report reads, so that a hand-edited or truncated file fails here in
    one line rather than deep inside a plot."""
    d = doc.data
    try:
        groups = [r["shots"] for r in d["rungs"]] if doc.kind == "ladder" else [d["shots"]]
        if doc.kind == "shots":
            float(d["target"]["vmaf"])
            float(d["source"]["duration"])
        if not groups or not all(groups):
            raise ValueError("no shots")
        for shots in groups:
            for s in shots:
                float(s["start_time"]), float(s["end_time"]), float(s["setting"])
                int(s["bytes"]), str(s["verdict"])
                for p in s["probes"]:
                    float(p["setting"]), int(p["bytes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{doc.path}: a {doc.kind} document the report cannot read "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def pooled(vmaf: dict[str, float] | None, pool: str) -> float | None:
    """A shot's or probe's VMAF under the target's pooling; None when it was not scored."""
    if not vmaf:
        return None
    return float(vmaf[POOL_ALIASES.get(pool, pool)])
