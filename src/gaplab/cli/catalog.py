"""`gaplab list datasets|models|regularizers`: what a spec can name."""

from __future__ import annotations

import typer
from rich.table import Table

from gaplab.cli.common import JsonOpt, console, print_json

app = typer.Typer(help="List what gaplab knows: data sets, models, regularizers.", no_args_is_help=True)


def _print_catalog(items: dict[str, str], title: str, as_json: bool) -> None:
    if as_json:
        print_json(items)
        return
    t = Table(title=title)
    t.add_column("name")
    t.add_column("what it is")
    for k, v in items.items():
        t.add_row(k, v)
    console.print(t)


@app.command("datasets")
def list_datasets_cmd(as_json: JsonOpt = False) -> None:
    """Built-in data sets (user files: data.name 'file' with data.path)."""
    from gaplab.data import list_datasets

    _print_catalog(list_datasets(), "data sets", as_json)


@app.command("models")
def list_models_cmd(as_json: JsonOpt = False) -> None:
    """Registered models (user models: 'package.module:factory')."""
    from gaplab.models import list_models

    _print_catalog(list_models(), "models", as_json)


@app.command("regularizers")
def list_regularizers_cmd(as_json: JsonOpt = False) -> None:
    """Every regularizer a run spec can switch on, with the spec key that sets it; all compose."""
    from gaplab.regularize.catalog import REGULARIZERS

    if as_json:
        print_json({r.name: {"key": r.key, "example": r.example, "help": r.help} for r in REGULARIZERS})
        return
    t = Table(title="regularizers (set with --set KEY=VALUE or in a spec file)")
    for c in ("name", "spec key", "what it is"):
        t.add_column(c)
    for r in REGULARIZERS:
        t.add_row(r.name, r.key, r.help)
    console.print(t)
