"""Who made a model: every zoo file (each `.onnx` and `registry.json`) has a signature
beside it (`FILE.sig`, a Sigstore bundle made by `model-signing` with an elliptic-curve
key), verified offline against trusted public keys: the zoo's own
(`models/keys/*.pub.pem`, committed; the private key never is) and any a farm adds
(`--trusted-key PEM`, `$VMAFTUNE_TRUSTED_KEYS`) for models it retrained and signed itself.

`--require-signed` (or `VMAFTUNE_REQUIRE_SIGNED=1`) makes every model load, by id or by
path, refuse a file whose signature does not verify. Without it, signatures are reported
(`vmaftune models verify`) but sha256 pins, sizes and operators are what loading checks.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmaftune.errors import InputError, ToolError, UsageError

SUFFIX = ".sig"
KEYS_FOLDER = "keys"  # inside the registry's folder
ENV_REQUIRE = "VMAFTUNE_REQUIRE_SIGNED"
ENV_KEYS = "VMAFTUNE_TRUSTED_KEYS"  # PEM paths, separated by os.pathsep


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def required() -> bool:
    return os.environ.get(ENV_REQUIRE, "") not in ("", "0")


def trusted_keys(registry_folder: Path) -> list[Path]:
    """The zoo's public keys, then the farm's own."""
    ours = sorted((registry_folder / KEYS_FOLDER).glob("*.pub.pem"))
    extra = [Path(p) for p in os.environ.get(ENV_KEYS, "").split(os.pathsep) if p]
    for key in extra:
        if not key.is_file():
            raise UsageError(f"--trusted-key {key}: no such file")
    return [*ours, *extra]


@dataclass(frozen=True)
class Check:
    path: Path  # the file checked
    ok: bool
    key: Path | None  # the trusted key it verified with
    reason: str  # why not, in a few words ("" when ok)

    def line(self) -> str:
        if self.ok:
            assert self.key is not None
            return f"signed with {self.key.name}"
        return self.reason


def _verifying() -> Any:
    try:
        from model_signing import verifying
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ToolError(f"cannot verify signatures: model-signing does not import ({exc})") from exc
    return verifying


def check(path: Path, keys: Sequence[Path]) -> Check:
    """Whether `path` carries a signature that one of `keys` made over these very bytes."""
    sig = signature_path(path)
    if not sig.is_file():
        return Check(path, False, None, f"no signature ({sig.name} is missing)")
    if not keys:
        return Check(path, False, None, "no trusted public key to verify it with")
    verifying = _verifying()
    reasons = []
    for key in keys:
        try:
            verifying.Config().use_elliptic_key_verifier(public_key=key).verify(path, sig)
        except ValueError as exc:
            text = str(exc)
            if text.startswith("Key mismatch"):
                reasons.append("signed by a key that is not trusted")
            elif "mismatch" in text:
                reasons.append("the file changed after it was signed")
            else:
                reasons.append(f"a signature that does not verify ({text.splitlines()[0][:80]})")
        except Exception as exc:  # a malformed bundle raises many types
            reasons.append(f"an unreadable signature ({type(exc).__name__})")
        else:
            return Check(path, True, key, "")
    # The most telling reason: a trusted key that saw other bytes beats "other key".
    order = ("the file changed after it was signed", "a signature", "an unreadable",
             "signed by a key")  # fmt: skip
    best = min(reasons, key=lambda r: next(i for i, p in enumerate(order) if r.startswith(p)))
    return Check(path, False, None, best)


def require(path: Path, name: str, registry_folder: Path) -> None:
    """Raise one line naming the file when `path` is not signed by a trusted key."""
    result = check(path, trusted_keys(registry_folder))
    if not result.ok:
        raise InputError(f"model {name}: {path}: {result.reason} (--require-signed)")


def sign(path: Path, private_key: Path, password: str | None = None) -> Path:
    """The maintainer's step: write `path`'s signature with `private_key` (PEM)."""
    signing: Any = importlib.import_module("model_signing.signing")
    sig = signature_path(path)
    config = signing.Config().use_elliptic_key_signer(private_key=private_key, password=password)
    config.sign(path, sig)
    return sig
