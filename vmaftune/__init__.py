"""vmaftune: per-shot target-quality encoding with FFmpeg, libvmaf and tiny ONNX models.

The public API (docs/api.md): eight jobs, each a function of a typed request that returns
a `Run`; `run.wait(on_event)` gives the typed result, iterating over the run gives its
events as they happen. Everything not named in `__all__` is private and may move.
"""

__version__ = "0.1.0"

from vmaftune.errors import (
    InputError,
    InternalError,
    OutputError,
    ProcessError,
    ToolError,
    UsageError,
    VmaftuneError,
)
from vmaftune.run import events
from vmaftune.run.events import Event, Run
from vmaftune.run.ladder import LadderRequest, LadderResult, encode_ladder
from vmaftune.run.once import OnceRequest, OnceResult, encode_once
from vmaftune.run.report import ReportRequest, ReportResult, report
from vmaftune.run.score import ScoreRequest, ScoreResult, score
from vmaftune.run.shards import (
    JoinRequest,
    PlanRequest,
    PlanResult,
    ShardRequest,
    ShardResult,
    join_plan,
    plan,
    run_shard,
)
from vmaftune.run.target import TargetRequest, TargetResult, encode_target
from vmaftune.steps.decide import ShotResult
from vmaftune.steps.decide.verdict import Verdict

__all__ = [
    "Event",
    "InputError",
    "InternalError",
    "JoinRequest",
    "LadderRequest",
    "LadderResult",
    "OnceRequest",
    "OnceResult",
    "OutputError",
    "PlanRequest",
    "PlanResult",
    "ProcessError",
    "ReportRequest",
    "ReportResult",
    "Run",
    "ScoreRequest",
    "ScoreResult",
    "ShardRequest",
    "ShardResult",
    "ShotResult",
    "TargetRequest",
    "TargetResult",
    "ToolError",
    "UsageError",
    "Verdict",
    "VmaftuneError",
    "__version__",
    "encode_ladder",
    "encode_once",
    "encode_target",
    "events",
    "join_plan",
    "plan",
    "report",
    "run_shard",
    "score",
]
