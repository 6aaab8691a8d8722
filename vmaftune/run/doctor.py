"""What this machine can do (`vmaftune doctor`): which FFmpeg runs, whether it has
libvmaf and its models, the patched filters, the model zoo, where models run, and which
encoders really encode here."""

from __future__ import annotations

from dataclasses import dataclass

from vmaftune.edges import process
from vmaftune.edges.toolchain import ZOO_FILTERS, FFmpeg, patched_ffmpeg, resolve, trial_encode
from vmaftune.encoders import get, load_all
from vmaftune.errors import InputError
from vmaftune.run.events import Emit, Run
from vmaftune.steps.score import MODELS, VmafOptions
from vmaftune.zoo import registry
from vmaftune.zoo.engines import cuda_runs


@dataclass(frozen=True)
class Check:
    item: str
    ok: bool
    needed: bool  # missing and needed: the doctor fails
    detail: str


@dataclass(frozen=True)
class DoctorResult:
    ffmpeg: FFmpeg
    checks: tuple[Check, ...]

    @property
    def missing(self) -> list[str]:
        return [c.item for c in self.checks if c.needed and not c.ok]


def doctor(codecs: tuple[str, ...] = (), ffmpeg: FFmpeg | None = None) -> Run[DoctorResult]:
    """Every check; `codecs` are encoders that must run here too."""
    return Run(lambda _emit: _run(codecs, ffmpeg or resolve(), _emit))


def _model_loads(ffmpeg: FFmpeg, name: str) -> tuple[bool, str]:
    vmaf = VmafOptions(model=name, threads=1).libvmaf("/dev/null", shortest=False)
    src = "testsrc2=s=160x90:r=25:d=0.04"
    argv = ffmpeg.argv("-f", "lavfi", "-i", src, "-f", "lavfi", "-i", src,
                       "-filter_complex", f"[0:v][1:v]{vmaf}", "-f", "null", "-")  # fmt: skip
    done = process.run(argv, what="libvmaf trial", check=False, timeout=60)
    return done.returncode == 0, "loads" if done.returncode == 0 else process.last_line(done.stderr)


def _zoo() -> Check:
    try:
        reg = registry.registry()
    except InputError as e:
        return Check("model zoo", False, True, e.message)
    bad = []
    for m in reg.models:
        try:
            registry.check_graph(registry.verify(reg, m), m.id)
        except InputError as e:
            bad.append(e.message)
    return Check("model zoo", not bad, True,
                 "; ".join(bad) or f"{len(reg.models)} models verify ({reg.folder})")  # fmt: skip


def _inference() -> Check:
    """Where the zoo's models run here. onnxruntime-gpu on a machine with no usable CUDA
    device falls back to the CPU: say so rather than fail (the CUDA image runs anywhere)."""
    import onnxruntime

    version = f"onnxruntime {onnxruntime.__version__}"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return Check("inference", True, True, f"{version}: CPU")
    detail = ("CUDA execution provider on the GPU" if cuda_runs() else
              "onnxruntime-gpu, but no usable CUDA device here: models run on the CPU")  # fmt: skip
    return Check("inference", True, True, f"{version}: {detail}")


def _run(codecs: tuple[str, ...], ffmpeg: FFmpeg, _emit: Emit) -> DoctorResult:
    import av

    required = {get(c).name for c in codecs}
    has_vmaf = ffmpeg.has_filter("libvmaf")
    checks = [
        Check("ffmpeg", True, True, f"{ffmpeg.version} at {ffmpeg.path} ({ffmpeg.source})"),
        Check("PyAV (probe)", True, True, f"av {av.__version__}"),
        Check("filter libvmaf", has_vmaf, True, "score, encode"),
        Check("filter scale", ffmpeg.has_filter("scale"), True, "score (size mismatch)"),
    ]
    if has_vmaf:
        for name, version in MODELS.items():
            if name == version:  # not an alias
                ok, detail = _model_loads(ffmpeg, name)
                checks.append(Check(f"model {name}", ok, True, detail))
    patched = patched_ffmpeg()
    detail = (f"{patched.path} ({patched.source})" if patched
              else "no patched FFmpeg (make ffmpeg): zoo models run in Python")  # fmt: skip
    checks.append(Check("filters " + ", ".join(ZOO_FILTERS), patched is not None, False, detail))
    checks += [_zoo(), _inference()]
    for enc in load_all():
        trial = trial_encode(ffmpeg, enc.ffmpeg, enc.default_pix_fmt)
        where = "CPU" if enc.hardware == "none" else f"{enc.hardware} GPU"
        checks.append(Check(f"encoder {enc.name}", trial.usable,
                            enc.hardware == "none" or enc.name in required,
                            f"{enc.ffmpeg} ({where}): {trial.reason}"))  # fmt: skip
    return DoctorResult(ffmpeg, tuple(checks))
