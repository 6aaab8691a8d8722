"""`vmaftune models list|show|verify`: the zoo as the registry describes it, and a check of
every file against its row (size, sha256, operator allowlist, opset)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vmaftune.cli.common import out
from vmaftune.errors import InputError
from vmaftune.zoo import registry as zoo

app = typer.Typer(
    help="The model zoo: list, show and verify registered models.", no_args_is_help=True
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
    equal to the row, opset. Exits 1 when any model fails."""
    reg = zoo.registry(registry)
    picked = [reg.get(i) for i in model_ids] if model_ids else list(reg.models)
    results = []
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
        results.append({"id": m.id, "ok": problem is None, "problem": problem})
    if as_json:
        out.print_json(json.dumps(results))
    else:
        for r in results:
            out.print(
                f"{'ok  ' if r['ok'] else 'FAIL'} {r['id']}"
                + (f": {r['problem']}" if r["problem"] else ""),
                soft_wrap=True,
            )
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)
