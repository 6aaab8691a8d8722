"""The decide step: which setting a shot gets, from the trials measured so far.

One interface, `Decision`, and its implementations: the search (`search.py`), and
predict-then-verify (`predict.py`) with its TRUSTED variant (`--verify sample:K`). The
per-shot loop asks a decision for the next setting until it says None, then for its
choice; it never asks which kind it holds. Every decision is a pure function of the
trials, so a resumed run replays the journal's trials into the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vmaftune.encoders import QualityKnob
from vmaftune.steps.decide import predict, search
from vmaftune.steps.decide.predict import ShotPrediction
from vmaftune.steps.decide.search import Point, Target
from vmaftune.steps.decide.verdict import Verdict
from vmaftune.steps.shots import Shot
from vmaftune.steps.trial import Trial


class Decision(Protocol):
    @property
    def scores(self) -> bool:
        """Whether its trials are scored."""
        ...

    def next_setting(self, trials: Sequence[Trial]) -> float | None: ...

    def choose(self, trials: Sequence[Trial]) -> tuple[float, Verdict]: ...


@dataclass(frozen=True)
class Search:
    knob: QualityKnob
    target: Target
    scores: bool = True

    def _points(self, trials: Sequence[Trial]) -> list[Point]:
        return [t.point(self.target.pool) for t in trials]

    def next_setting(self, trials: Sequence[Trial]) -> float | None:
        return search.next_setting(self.knob, self._points(trials), self.target)

    def choose(self, trials: Sequence[Trial]) -> tuple[float, Verdict]:
        best, verdict = search.choose(self._points(trials), self.target, self.knob)
        return best.setting, verdict


@dataclass(frozen=True)
class PredictThenVerify:
    prediction: ShotPrediction
    knob: QualityKnob
    target: Target
    scores: bool = True

    def _measured(self, trials: Sequence[Trial]) -> tuple[list[Point], list[float]]:
        return [t.point(self.target.pool) for t in trials], [t.scores.mean for t in trials]

    def next_setting(self, trials: Sequence[Trial]) -> float | None:
        points, means = self._measured(trials)
        return predict.next_setting(self.prediction, self.knob, points, means, self.target)

    def choose(self, trials: Sequence[Trial]) -> tuple[float, Verdict]:
        points, means = self._measured(trials)
        best, verdict = predict.choose(self.prediction, points, means, self.target, self.knob)
        return best.setting, verdict


@dataclass(frozen=True)
class Trust:
    """One unscored encode at the predicted setting: what `--verify sample:K` gives the
    shots it does not sample, once every sampled shot was GOSPEL."""

    prediction: ShotPrediction
    scores: bool = False

    def next_setting(self, trials: Sequence[Trial]) -> float | None:
        return None if trials else self.prediction.setting

    def choose(self, trials: Sequence[Trial]) -> tuple[float, Verdict]:
        return trials[0].setting, Verdict.TRUSTED


@dataclass(frozen=True)
class ShotResult:
    shot: Shot
    chosen: Trial
    trials: tuple[Trial, ...]  # in the order they were measured
    verdict: Verdict
    prediction: ShotPrediction | None = None  # --mode predict


def sample_shots(
    shots: Sequence[Shot], predictions: dict[int, ShotPrediction], k: int
) -> list[Shot]:
    """K shots spread across complexity: evenly through the shots ordered by predicted
    setting (a hard shot needs a low setting), the hardest and the easiest included."""
    order = sorted(shots, key=lambda s: (predictions[s.index].setting, s.index))
    if k >= len(order):
        return list(shots)
    picks = {order[round(i * (len(order) - 1) / max(1, k - 1))].index for i in range(k)}
    return [s for s in shots if s.index in picks]
