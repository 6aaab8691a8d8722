"""`vmaftune models list|show|verify|sign`: the zoo as the registry describes it, a check
of every file against its row (size, sha256, operator allowlist, opset) and of its
signature, and the maintainer's signing step."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune.cli.common import out
from vmaftune.errors import InputError
from vmaftune.zoo import registry as zoo
from vmaftune.zoo import signatures

app = typer.Typer(
    help="The model zoo: list, show, verify and sign registered models.", no_args_is_help=True
)

Folder = Annotated[
    Path | None,
    typer.Option(
        "--registry", help="Folder holding registry.json (default: the installed models/)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def row(entry: zoo.ModelEntry) -> dict[str, Any]:
    return asdict(entry)


@app.command("list")
def list_(registry: Folder = None, as_json: AsJson = False) -> None:
    """One line per registered model."""
    reg = zoo.registry(registry)
    if as_json:
        out.print_json(json.dumps([row(m) for m in reg.models]))
        return
    table = Table(title=f"Models ({reg.folder})")
    for col in ("id", "kind", "bytes", "inputs → outputs", "description"):
        table.add_column(col)
    for m in reg.models:
        io = (
            ", ".join(str(list(t.shape)) for t in m.inputs)
            + " → "
            + ", ".join(str(list(t.shape)) for t in m.outputs)
        )
        table.add_row(m.id, m.kind, str(m.bytes), io, m.description)
    out.print(table)


@app.command("show")
def show(model_id: Annotated[str, typer.Argument(metavar="ID")], registry: Folder = None) -> None:
    """A model's whole row (JSON), its card's path included."""
    reg = zoo.registry(registry)
    entry = reg.get(model_id)
    out.print_json(
        json.dumps(
            {**row(entry), "path": str(reg.path(entry)), "card_path": str(reg.folder / entry.card)}
        )
    )


@app.command("verify")
def verify(
    model_ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...")] = None,
    registry: Folder = None,
    as_json: AsJson = False,
) -> None:
    """Check files against the registry: size, sha256, operators within the allowlist and
    equal to the row, opset, and each file's signature (and registry.json's) against the
    trusted public keys, offline. Exits 1 when any model or signature fails."""
    reg = zoo.registry(registry)
    picked = [reg.get(i) for i in model_ids] if model_ids else list(reg.models)
    keys = signatures.trusted_keys(reg.folder)
    results = [_registry_signature(reg.folder, keys)]
    for m in picked:
        problem = None
        try:
            data = zoo.verify(reg, m)
            ops, opset = zoo.operators(data, m.id)
            zoo.check_graph(data, m.id)
            if tuple(ops) != tuple(sorted(m.operators)):
                problem = f"operators {ops} differ from the registry's {sorted(m.operators)}"
            elif opset != m.opset:
                problem = f"opset {opset} differs from the registry's {m.opset}"
        except InputError as e:
            problem = e.message
        signed = signatures.check(reg.path(m), keys)
        if problem is None and not signed.ok:
            problem = f"{reg.path(m).name}: {signed.reason}"
        results.append({"id": m.id, "ok": problem is None, "problem": problem,
                        "signature": signed.line(), "signed": signed.ok})  # fmt: skip
    if as_json:
        out.print_json(json.dumps(results))
    else:
        for r in results:
            tail = f": {r['problem']}" if r["problem"] else f" ({r['signature']})"
            out.print(f"{'ok  ' if r['ok'] else 'FAIL'} {r['id']}{tail}", soft_wrap=True,
                      markup=False)  # fmt: skip
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


def _registry_signature(folder: Path, keys: list[Path]) -> dict[str, Any]:
    signed = signatures.check(folder / "registry.json", keys)
    problem = None if signed.ok else f"registry.json: {signed.reason}"
    return {"id": "registry.json", "ok": signed.ok, "problem": problem,
            "signature": signed.line(), "signed": signed.ok}  # fmt: skip


@app.command("sign")
def sign(
    private_key: Annotated[
        Path, typer.Option("--private-key", help="The signing key (PEM, elliptic curve).")
    ],
    registry: Folder = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env", help="Name of an environment variable holding the key's password."
        ),
    ] = None,
) -> None:
    """The maintainer's step after a model changes: sign registry.json and every model file
    it lists (FILE.sig beside each). Verify with the matching public key in models/keys/."""
    reg = zoo.registry(registry)
    password = os.environ.get(password_env) if password_env else None
    if not private_key.is_file():
        raise InputError(f"--private-key {private_key}: no such file")
    for path in [reg.folder / "registry.json", *(reg.path(m) for m in reg.models)]:
        try:
            sig = signatures.sign(path, private_key, password)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}: cannot sign it with {private_key} ({exc})") from exc
        out.print(f"signed {path.name} → {sig.name}", markup=False)
