"""One exception hierarchy; each class carries the exit code the CLI returns for it.

Exit codes (also in docs/cli.md):
  0 success · 1 a check found a problem (e.g. `doctor`) · 2 usage · 3 bad input or output
  path · 4 tool or encoder failure · 5 internal error · 130 interrupted (SIGINT, Ctrl-C) ·
  143 terminated (SIGTERM)
"""

from __future__ import annotations

from collections.abc import Sequence


class VmaftuneError(Exception):
    """Base class: every error vmaftune raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Shown with --verbose only: the command line, the tail of stderr, ...
        self.detail = detail


class UsageError(VmaftuneError):
    """A bad option or combination of options (unknown codec, value out of range)."""

    exit_code = 2


class InputError(VmaftuneError):
    """An input that cannot be used: missing, empty, not a video, truncated."""

    exit_code = 3


class OutputError(VmaftuneError):
    """An output that cannot be written: folder missing or read-only, file exists."""

    exit_code = 3


class ToolError(VmaftuneError):
    """FFmpeg or an encoder is missing, lacks a feature, or cannot run here."""

    exit_code = 4


class ProcessError(ToolError):
    """A subprocess failed; keeps the command line and the tail of its stderr."""

    def __init__(self, message: str, argv: Sequence[str], returncode: int, stderr_tail: str):
        import shlex

        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        detail = f"command: {shlex.join(self.argv)}\nexit status: {returncode}\n{stderr_tail}"
        super().__init__(message, detail=detail)


class InternalError(VmaftuneError):
    """A bug: something vmaftune itself got wrong."""

    exit_code = 5


class Interrupted(VmaftuneError):
    """The run was stopped (Ctrl-C): raised where a child was killed or was not started
    because of it. Whatever was finished stays in the journal."""

    exit_code = 130


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by the command line's handler (like
    KeyboardInterrupt for SIGINT, it is not an Exception, so no step swallows it)."""
