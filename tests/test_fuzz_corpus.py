"""The fuzz harnesses of the C registry reader build and pass their committed corpus
(filters/fuzz/corpus: seeds plus what earlier fuzzing found that added coverage); `make
fuzz` fuzzes on from there. A regression that crashes, leaks past ASan or resolves a
model the oracles forbid (a link out of the folder, external weights) fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("clang") is None,
    reason="clang is not installed (apt-get install clang libclang-rt-14-dev; CI installs it)",
)
def test_fuzz_harnesses_pass_their_corpus(ffmpeg_built: Path) -> None:
    done = subprocess.run(["bash", str(ROOT / "filters" / "fuzz" / "run.sh"), "--replay"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for harness in ("registry", "onnx"):
        count = len(list((ROOT / "filters" / "fuzz" / "corpus" / harness).iterdir()))
        assert f"fuzz_{harness}: {count} corpus inputs replayed, no crash" in done.stderr
