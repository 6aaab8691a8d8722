"""vmaftune: per-shot target-quality encoding with FFmpeg, libvmaf and tiny ONNX models."""

from vmaftune.errors import (
    InputError,
    InternalError,
    OutputError,
    ProcessError,
    ToolError,
    UsageError,
    VmaftuneError,
)

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "InternalError",
    "OutputError",
    "ProcessError",
    "ToolError",
    "UsageError",
    "VmaftuneError",
    "__version__",
]
