"""The signed zoo (issue 22): the shipped signatures verify offline with the committed
public key, and under --require-signed every tampered case is refused in one line naming
the file, before any model runs: a flipped byte, a swapped file, a signature from another
key, a registry row edited after signing, a missing signature; a farm's own key signs
and is trusted with --trusted-key. Keys other than the zoo's are made here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vmaftune.zoo import signatures

from .conftest import cli_subprocess

MODELS = Path(__file__).resolve().parent.parent / "models"


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, spki))
    return private, public


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    """A copy of the shipped zoo (models, registry, signatures, the zoo's public key)."""
    dest = tmp_path / "zoo"
    dest.mkdir()
    for f in MODELS.iterdir():
        if f.is_file() and f.suffix in (".onnx", ".json", ".sig", ".md"):
            shutil.copy(f, dest / f.name)
    shutil.copytree(MODELS / "keys", dest / "keys")
    return dest


def _nr(zoo: Path, clip: Path, *extra: str, model: str = "vmaf_post_nr",
        env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    return cli_subprocess(*extra, "score", "--nr", "--nr-model", model, clip, "--json", "-",
                          env={"VMAFTUNE_MODELS": str(zoo), **(env or {})})  # fmt: skip


def test_the_shipped_zoo_is_signed_with_the_committed_key(cli):  # type: ignore[no-untyped-def]
    r = cli("models", "verify", "--registry", str(MODELS), "--json")
    assert r.code == 0, r.stdout
    rows = r.json()
    assert rows[0]["id"] == "registry.json"
    assert all(row["signed"] and "vmaftune-zoo.pub.pem" in row["signature"] for row in rows)
    assert len(rows) == 1 + len(json.loads((MODELS / "registry.json").read_text())["models"])


def test_a_signed_model_runs_under_require_signed(zoo, carphone):  # type: ignore[no-untyped-def]
    r = _nr(zoo, carphone[1], "--require-signed")
    assert r.code == 0, r.stderr
    assert "vmaf_post_nr" in r.stdout


def _refused(r, name: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and reason in lines[0], lines
    assert r.stdout == "" and "Traceback" not in r.stderr  # nothing ran


def test_tampered_models_are_refused_in_one_line(zoo, carphone, tmp_path):  # type: ignore[no-untyped-def]
    clip = carphone[1]
    model = zoo / "vmaf_post_nr.onnx"
    original = model.read_bytes()
    # A flipped byte.
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    model.write_bytes(bytes(flipped))
    _refused(_nr(zoo, clip, "--require-signed"), "vmaf_post_nr.onnx",
             "the file changed after it was signed")  # fmt: skip
    # Another model's file put in its place.
    shutil.copy(zoo / "vmaf_tiny.onnx", model)
    _refused(_nr(zoo, clip, "--require-signed"), "vmaf_post_nr.onnx",
             "the file changed after it was signed")  # fmt: skip
    # The right bytes, signed by a key the zoo does not trust.
    model.write_bytes(original)
    private, public = _keypair(tmp_path, "stranger")
    signatures.sign(model, private)
    _refused(_nr(zoo, clip, "--require-signed"), "vmaf_post_nr.onnx",
             "signed by a key that is not trusted")  # fmt: skip
    # ... which a farm may choose to trust.
    r = _nr(zoo, clip, "--require-signed", "--trusted-key", str(public))
    assert r.code == 0, r.stderr
    # No signature at all, by flag and by environment.
    signatures.signature_path(model).unlink()
    _refused(_nr(zoo, clip, "--require-signed"), "vmaf_post_nr.onnx", "no signature")
    _refused(_nr(zoo, clip, env={"VMAFTUNE_REQUIRE_SIGNED": "1"}), "vmaf_post_nr.onnx",
             "no signature")  # fmt: skip
    # Without --require-signed the sha256 pin is what counts: the right bytes run.
    assert _nr(zoo, clip).code == 0


def test_a_registry_edited_after_signing_is_refused(zoo, carphone):  # type: ignore[no-untyped-def]
    reg = json.loads((zoo / "registry.json").read_text())
    reg["models"][0]["description"] += " (edited)"
    (zoo / "registry.json").write_text(json.dumps(reg, indent=2))
    _refused(_nr(zoo, carphone[1], "--require-signed"), "registry.json",
             "the file changed after it was signed")  # fmt: skip


def test_a_model_by_path_needs_a_trusted_signature(zoo, carphone, tmp_path):  # type: ignore[no-untyped-def]
    mine = tmp_path / "retrained.onnx"
    shutil.copy(MODELS / "vmaf_post_nr.onnx", mine)
    _refused(_nr(zoo, carphone[1], "--require-signed", model=str(mine)), "retrained.onnx",
             "no signature")  # fmt: skip
    private, public = _keypair(tmp_path, "farm")
    signatures.sign(mine, private)
    _refused(_nr(zoo, carphone[1], "--require-signed", model=str(mine)), "retrained.onnx",
             "signed by a key that is not trusted")  # fmt: skip
    r = _nr(zoo, carphone[1], "--require-signed", "--trusted-key", str(public), model=str(mine))
    assert r.code == 0, r.stderr
    r = cli_subprocess("--trusted-key", str(tmp_path / "missing.pem"), "--require-signed",
                       "score", "--nr", "--nr-model", str(mine), carphone[1])  # fmt: skip
    assert r.code == 2 and "--trusted-key" in r.stderr and "no such file" in r.stderr


def test_models_verify_reports_bad_signatures_and_sign_makes_good_ones(zoo, tmp_path, cli):  # type: ignore[no-untyped-def]
    (zoo / "vmaf_tiny.onnx.sig").unlink()
    r = cli("models", "verify", "--registry", str(zoo))
    assert r.code == 1 and "FAIL vmaf_tiny: vmaf_tiny.onnx: no signature" in r.stdout
    assert "ok   vmaf_post_nr (signed with vmaftune-zoo.pub.pem)" in r.stdout
    r = cli("models", "sign", "--registry", str(zoo), "--private-key", str(tmp_path / "no.pem"))
    assert r.code == 3 and "no such file" in r.stderr and not r.stdout
    # A farm re-signs the whole zoo with its own key and trusts it.
    private, public = _keypair(tmp_path, "farm")
    r = cli("models", "sign", "--registry", str(zoo), "--private-key", str(private))
    assert r.code == 0, r.stderr
    r = cli("models", "verify", "--registry", str(zoo))
    assert r.code == 1 and "signed by a key that is not trusted" in r.stdout
    r = cli("--trusted-key", str(public), "models", "verify", "--registry", str(zoo), "--json")
    assert r.code == 0 and all("farm.pub.pem" in row["signature"] for row in r.json())
