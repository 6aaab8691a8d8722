"""One work folder per shot (`ROOT/shots/00012/`: its own journal and segments), for shots
decided by other processes or machines: Ray tasks and batch-array shards. Each shot has
one writer, so no journal is shared between processes, and a storage that every node
mounts (NFS, EFS, Lustre, a hostPath) is all they need in common. A local run keeps its
single journal (vmaftune.work.workdir)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmaftune.steps.cuts import Cut
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.shots import Shot
from vmaftune.work.journal import Journal
from vmaftune.work.workdir import WorkDir


@dataclass(frozen=True)
class PerShot:
    root: Path  # absolute: workers resolve it on their own machines
    key: str  # the run key every shot's journal is opened with

    def folder(self, shot: Shot) -> Path:
        return self.root / "shots" / f"{shot.index:05d}"

    def open(self, shot: Shot) -> WorkDir:
        return WorkDir(self.folder(shot)).open(self.key)

    def segment(self, result: ShotResult) -> Path:
        return self.folder(result.shot) / "segments" / result.chosen.segment

    def _peek(self, shot: Shot) -> Journal | None:
        """The shot's journal opened read-only, when it is this run's."""
        path = self.folder(shot) / "journal.sqlite"
        if not path.exists():
            return None
        journal = Journal(path, self.key, read_only=True)
        if not journal.resumed:
            journal.close()
            return None
        return journal

    def finished(self, shot: Shot) -> bool:
        """Whether the shot's journal records its choice and the chosen segment is there;
        read-only, so asking never disturbs a worker that is writing it."""
        journal = self._peek(shot)
        if journal is None:
            return False
        try:
            done = journal.finished().get(shot.index)
            probe = journal.probes(shot.index).get(float(done["setting"])) if done else None
        finally:
            journal.close()
        return probe is not None and (self.folder(shot) / "segments" / probe["segment"]).exists()

    def cut(self, shot: Shot) -> Cut | None:
        """The shot's cut as its journal recorded it (None: not recorded)."""
        journal = self._peek(shot)
        if journal is None:
            return None
        try:
            saved = journal.meta(f"cut{shot.index}")
        finally:
            journal.close()
        return Cut(**saved) if saved is not None else None
