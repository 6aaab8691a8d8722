"""What a shot's decision says about its setting (the sidecar's `verdict`)."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    SEARCH = "SEARCH"  # the highest passing setting, within tolerance or one step from a fail
    CAPPED = "CAPPED"  # passes even at the top of the search range: cannot get cheaper
    UNREACHABLE = "UNREACHABLE"  # fails even at the lowest setting: the best we could do
    GOSPEL = "GOSPEL"  # predict-then-verify: the predicted setting passed, in the band
    RECALIBRATE = "RECALIBRATE"  # one corrected encode settled the shot
    FALL_BACK = "FALL_BACK"  # the search took over from the prediction
    TRUSTED = "TRUSTED"  # --verify sample:K: encoded at the prediction, not scored
