"""`OUT.vmaftune-work/` beside the output: the run journal and the shots' segments."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmaftune.encoders import Encoder
from vmaftune.errors import OutputError
from vmaftune.steps.shots import Shot
from vmaftune.work.journal import Journal

# Bumped when what the journal records changes meaning: an older journal is not resumed.
JOURNAL_FORMAT = 2


def run_key(identity: dict[str, Any]) -> str:
    """The journal's key over everything that changes a result."""
    data = {"journal": JOURNAL_FORMAT, **identity}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass
class WorkDir:
    path: Path
    journal: Journal = field(init=False)
    key: str = field(init=False, default="")  # the run key it was opened with

    @staticmethod
    def beside(output: Path) -> Path:
        return output.parent / f"{output.name}.vmaftune-work"

    def open(self, run_key: str) -> WorkDir:
        try:
            (self.path / "segments").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create the work folder ({exc})") from exc
        # Half-written segments of a killed run: never recorded, so never trusted.
        for stale in (self.path / "segments").glob(".*.partial*"):
            stale.unlink(missing_ok=True)
        self.key = run_key
        self.journal = Journal(self.path / "journal.sqlite", run_key)
        if not self.journal.resumed:
            for old in (self.path / "segments").iterdir():
                old.unlink(missing_ok=True)
        return self

    def segment(self, shot: Shot, encoder: Encoder, setting: float) -> Path:
        value = encoder.quality.render(setting)
        return self.path / "segments" / f"shot{shot.index:05d}-{encoder.quality.name}{value}.mkv"

    def remove(self) -> None:
        self.journal.close()
        shutil.rmtree(self.path, ignore_errors=True)
