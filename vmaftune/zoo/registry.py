"""The model zoo: `models/registry.json` is the one table of models; this module is the one
loader. A model is named by registry id (its size and sha256 are checked before onnxruntime
sees a byte) or given by path; either way files over 50 MB and graphs with operators outside
the allowlist are refused, checked with `onnx` before onnxruntime loads them."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmaftune.encoders import data_dir
from vmaftune.errors import InputError, UsageError
from vmaftune.zoo import signatures

if TYPE_CHECKING:
    import onnxruntime

SCHEMA = "vmaftune.models/1"
MAX_BYTES = 50 * 1024 * 1024
OPSET = 17
KINDS = ("prefilter", "temporal", "nr", "predictor", "fr", "fr_pixel", "saliency")

# Operators a zoo model may use (docs: models/README.md); the C filters hold the same
# list (filters/vmaf_registry.c, compared by a test). Small on purpose: dense and
# convolutional layers, activations, pooling, shape glue, the arithmetic of an in-graph
# scaler, and the two operators of static INT8 (QDQ) models. Anything else (loops,
# custom domains, string ops) is refused before loading.
ALLOWED_OPS = frozenset(
    {
        "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
        "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Exp", "Flatten", "Gather",
        "Gemm", "GlobalAveragePool", "Identity", "LeakyRelu", "Log", "MatMul", "Max",
        "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow", "QuantizeLinear", "ReduceMean",
        "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softplus",
        "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
    }
)  # fmt: skip

# --precision: fp32 runs the trained model; int8 its quantized variant where the registry
# has one (a row with `parent` and `precision: int8`, registered only within its accuracy
# budget); auto takes the variant only where its row measured it faster than the parent.
ENV_PRECISION = "VMAFTUNE_PRECISION"
PRECISIONS = ("auto", "fp32", "int8")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    range: tuple[float, float] | None = None  # outputs: what a working model can return


# The scale of each kind's output, with room for a regressor's overshoot: what a model
# given by path (no registry row to declare its range) is held to. VMAF kinds score
# 0..100; pre-filters return planes in [0, 1].
KIND_RANGES: Mapping[str, tuple[float, float]] = {
    "nr": (-10.0, 110.0),
    "fr": (-10.0, 110.0),
    "fr_pixel": (-10.0, 110.0),
    "predictor": (-10.0, 110.0),
    "prefilter": (-0.25, 1.25),
    "temporal": (-0.25, 1.25),
    "saliency": (-0.01, 1.01),
}


@dataclass(frozen=True)
class ModelEntry:
    """One row of the registry."""

    id: str
    kind: str
    file: str
    sha256: str
    bytes: int
    opset: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    operators: tuple[str, ...]
    licence: str
    training: str
    card: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    precision: str = "fp32"
    parent: str = ""  # a variant's FP32 model
    quant_mode: str = ""


@dataclass(frozen=True)
class Registry:
    folder: Path
    models: tuple[ModelEntry, ...]

    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def get(self, model_id: str) -> ModelEntry:
        for m in self.models:
            if m.id == model_id:
                return m
        hint = difflib.get_close_matches(model_id, self.ids(), n=1)
        known = ", ".join(self.ids()) or "none"
        more = f"; did you mean {hint[0]!r}?" if hint else f" (known: {known})"
        raise UsageError(f"unknown model {model_id!r}{more}")

    def path(self, entry: ModelEntry) -> Path:
        return self.folder / entry.file

    def variant(self, entry: ModelEntry, precision: str) -> ModelEntry:
        """The row to run for `entry` at `precision`: its INT8 variant when asked for (or,
        under auto, when the variant measured faster), else the row itself. A row named
        directly that is itself a variant runs as named."""
        if precision == "fp32" or entry.parent:
            return entry
        int8 = next((m for m in self.models if m.parent == entry.id and m.precision == "int8"),
                    None)  # fmt: skip
        if int8 is None:
            return entry
        if precision == "int8" or float(int8.metrics.get("speedup_cpu", 0.0)) > 1.0:
            return int8
        return entry


@dataclass(frozen=True)
class LoadedModel:
    """A checked model: where it came from, its registry row (None for a bare path) and
    the verified bytes that onnxruntime is given."""

    name: str
    path: Path
    entry: ModelEntry | None
    data: bytes = field(repr=False)
    kind: str | None = None

    @property
    def registered(self) -> bool:
        """Whether its bytes are pinned by a registry row (by id, or a file with a row's
        sha256); an unregistered model runs, and reports say so."""
        return self.entry is not None

    @property
    def range(self) -> tuple[float, float] | None:
        """The outputs a working copy of this model returns: its row's declaration, else
        its kind's scale."""
        if self.entry is not None and self.entry.outputs and self.entry.outputs[0].range:
            return self.entry.outputs[0].range
        kind = self.entry.kind if self.entry is not None else self.kind
        return KIND_RANGES.get(kind) if kind else None

    def check_outputs(self, values: Any) -> None:
        """Fail in one line when the model returned values outside its declared range (a
        tampered or broken model scores 5006, and nothing else would notice)."""
        check_range(self.name, values, self.range)

    def session(
        self, providers: Sequence[str] = ("CPUExecutionProvider",)
    ) -> onnxruntime.InferenceSession:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.log_severity_level = 3
        try:
            return onnxruntime.InferenceSession(
                self.data, sess_options=opts, providers=list(providers)
            )
        except Exception as exc:  # onnxruntime raises its own error types
            # Its message ends in the cause; the C++ location before it helps nobody.
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            cause = cause.rsplit(") ", 1)[-1] if ") " in cause else cause
            raise InputError(f"model {self.name}: onnxruntime cannot load it: {cause}") from None


def _tensors(rows: Any, where: str) -> tuple[TensorSpec, ...]:
    specs = []
    for r in rows:
        lo_hi = r.get("range")
        bounds = (float(lo_hi[0]), float(lo_hi[1])) if lo_hi is not None else None
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"range {lo_hi}")
        specs.append(
            TensorSpec(str(r["name"]), tuple(r["shape"]), str(r.get("dtype", "float32")), bounds)
        )
    return tuple(specs)


def check_range(name: str, values: Any, bounds: tuple[float, float] | None) -> None:
    """InputError when any value is NaN or outside bounds (None: nothing declared)."""
    import numpy as np

    if bounds is None:
        return
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return
    bad = ~((v >= bounds[0]) & (v <= bounds[1]))  # NaN fails both comparisons
    if bad.any():
        worst = v[bad][0]
        raise InputError(
            f"model {name}: returned {worst:.6g}, outside its declared range "
            f"[{bounds[0]:g}, {bounds[1]:g}]; the model file is damaged or not what it claims"
        )


def _entry(row: Mapping[str, Any], where: str) -> ModelEntry:
    try:
        entry = ModelEntry(
            id=str(row["id"]),
            kind=str(row["kind"]),
            file=str(row["file"]),
            sha256=str(row["sha256"]).lower(),
            bytes=int(row["bytes"]),
            opset=int(row["opset"]),
            inputs=_tensors(row["inputs"], where),
            outputs=_tensors(row["outputs"], where),
            operators=tuple(str(o) for o in row["operators"]),
            licence=str(row["licence"]),
            training=str(row["training"]),
            card=str(row["card"]),
            metrics=dict(row.get("metrics", {})),
            description=str(row.get("description", "")),
            precision=str(row.get("precision", "fp32")),
            parent=str(row.get("parent", "")),
            quant_mode=str(row.get("quant_mode", "")),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{where}: a model row lacks or mistypes {e}") from None
    if entry.kind not in KINDS:
        raise InputError(f"{where}: model {entry.id!r} has unknown kind {entry.kind!r}")
    if "/" in entry.file or entry.file.startswith("."):
        raise InputError(f"{where}: model {entry.id!r} must name a file beside the registry")
    if entry.precision not in ("fp32", "int8") or bool(entry.parent) != (entry.precision != "fp32"):
        raise InputError(
            f"{where}: model {entry.id!r}: an int8 row needs its parent, an fp32 row has none"
        )
    return entry


def precision() -> str:
    """The precision asked for (--precision, or $VMAFTUNE_PRECISION); default auto."""
    value = os.environ.get(ENV_PRECISION, "").strip().lower() or "auto"
    if value not in PRECISIONS:
        raise UsageError(f"{ENV_PRECISION}={value!r}: use one of {', '.join(PRECISIONS)}")
    return value


ENV_MODELS = "VMAFTUNE_MODELS"


def registry(folder: Path | None = None) -> Registry:
    """The registry in `folder`; default $VMAFTUNE_MODELS (as the FFmpeg filters read it),
    else the package's models/."""
    env = os.environ.get(ENV_MODELS)
    folder = folder or (Path(env) if env else data_dir("models"))
    path = folder / "registry.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no model registry at {path}") from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the model registry {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a {SCHEMA} registry")
    models = tuple(_entry(r, str(path)) for r in doc.get("models", []))
    ids = [m.id for m in models]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: duplicate model ids")
    kinds = {m.id: m.kind for m in models}
    for m in models:
        if m.parent and kinds.get(m.parent) != m.kind:
            raise InputError(f"{path}: model {m.id!r} names parent {m.parent!r}, not a {m.kind} "
                             "model of this registry")  # fmt: skip
    return Registry(folder, models)


def is_path(name: str) -> bool:
    """The rule the C filters use too: a name with '/' or ending in .onnx is a file."""
    return "/" in name or name.lower().endswith(".onnx")


def operators(data: bytes, name: str) -> tuple[list[str], int]:
    """The operator types of a graph (subgraphs included) and its default-domain opset."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # onnx raises DecodeError and friends without a common base
        raise InputError(f"model {name}: not an ONNX model ({type(e).__name__})") from None
    ops: set[str] = set()
    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        for node in g.node:
            ops.add(
                node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            )
            for a in node.attribute:
                if a.HasField("g"):
                    graphs.append(a.g)
                graphs.extend(a.graphs)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return sorted(ops), opset


def external_tensors(data: bytes) -> list[str]:
    """Tensors whose values live in another file: bytes the sha256 and the size cap never
    saw, which onnxruntime would read from wherever the model is loaded. Searched where
    the C filters search (filters/vmaf_registry.c): graphs, subgraphs, node attributes,
    sparse tensors and functions."""
    import onnx

    model = onnx.load_model_from_string(data)
    tensors: list[onnx.TensorProto] = []
    graphs = [model.graph]
    nodes = [n for f in model.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            tensors += g.initializer
            tensors += [t for s in g.sparse_initializer for t in (s.values, s.indices)]
            nodes += g.node
            continue
        for a in nodes.pop().attribute:
            if a.HasField("t"):
                tensors.append(a.t)
            tensors += a.tensors
            sparse = [a.sparse_tensor] if a.HasField("sparse_tensor") else []
            tensors += [t for s in [*sparse, *a.sparse_tensors] for t in (s.values, s.indices)]
            if a.HasField("g"):
                graphs.append(a.g)
            graphs += a.graphs
    return [
        t.name
        for t in tensors
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data)
    ]


def check_graph(data: bytes, name: str) -> list[str]:
    ops, _ = operators(data, name)
    outside = external_tensors(data)
    if outside:
        raise InputError(
            f"model {name}: {len(outside)} tensor(s) keep their values in another file "
            f"({', '.join(outside[:3])}); a zoo model must hold its own weights"
        )
    bad = [o for o in ops if o not in ALLOWED_OPS]
    if bad:
        raise InputError(f"model {name}: operators outside the allowlist: {', '.join(bad)}")
    return ops


def _read(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"model {name}: file {path} not found") from None
    except OSError as e:
        raise InputError(f"model {name}: cannot read {path}: {e.strerror}") from None
    if size > MAX_BYTES:
        raise InputError(f"model {name}: {path} is {size} bytes; the limit is {MAX_BYTES}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"model {name}: cannot read {path}: {e.strerror}") from None


def verify(reg: Registry, entry: ModelEntry) -> bytes:
    """The model's bytes if the file lies in the registry's folder (links followed) and
    its size and sha256 match its row; raises InputError otherwise."""
    path = reg.path(entry)
    try:
        inside = path.resolve().is_relative_to(reg.folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        raise InputError(
            f"model {entry.id}: {path} links to {os.path.realpath(path)}, outside the "
            f"registry's folder {reg.folder}: refusing to load it"
        )
    data = _read(path, entry.id)
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != entry.bytes or digest != entry.sha256:
        raise InputError(
            f"model {entry.id}: {reg.path(entry)} does not match the registry "
            f"(sha256 {digest[:12]}…, {len(data)} bytes; expected {entry.sha256[:12]}…, "
            f"{entry.bytes} bytes): refusing to load it"
        )
    return data


def load(name: str, *, kind: str | None = None, folder: Path | None = None) -> LoadedModel:
    """Resolve and check a model named by registry id or by path; under --require-signed
    its file (and for an id, registry.json) must carry a signature by a trusted key."""
    if is_path(name):
        path = Path(name)
        if signatures.required():
            signatures.require(path, name, _keys_folder(folder))
        data = _read(path, name)
        check_graph(data, name)
        row = registered_as(data, folder)
        if kind and row is not None and row.kind != kind:
            raise UsageError(
                f"model {name} is {row.id}, a {row.kind} model; this needs a {kind} model"
            )
        return LoadedModel(name, path, row, data, kind)
    reg = registry(folder)
    entry = reg.get(name)
    chosen = reg.variant(entry, precision())
    if chosen is not entry:
        entry, name = chosen, chosen.id
    if kind and entry.kind != kind:
        raise UsageError(f"model {name!r} is a {entry.kind} model; this needs a {kind} model")
    if signatures.required():
        # The row pins the file's sha256, so the registry is checked first.
        signatures.require(reg.folder / "registry.json", name, reg.folder)
        signatures.require(reg.path(entry), name, reg.folder)
    data = verify(reg, entry)
    check_graph(data, name)
    return LoadedModel(name, reg.path(entry), entry, data, kind)


def _keys_folder(folder: Path | None) -> Path:
    """Where the zoo's public keys are for a model given by path: the registry's folder,
    or the installed zoo's when no registry is readable."""
    try:
        return registry(folder).folder
    except InputError:
        return data_dir("models")


def registered_as(data: bytes, folder: Path | None = None) -> ModelEntry | None:
    """The registry row pinning exactly these bytes, if any (no registry: none)."""
    try:
        reg = registry(folder)
    except InputError:
        return None
    digest = hashlib.sha256(data).hexdigest()
    return next((m for m in reg.models if m.sha256 == digest and m.bytes == len(data)), None)
