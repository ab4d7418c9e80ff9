"""``ensemble``: one pipeline voting over the split models."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("ensemble")
def ensemble_command(
    training: Path = typer.Argument(..., help="output of train-splits (holds members.json)"),
    output: Path = typer.Argument(..., help="folder to save the ensemble pipeline to"),
    name: str = typer.Option("clinx_ner", help="pipeline name in meta.json"),
    version: str = typer.Option("0.1.0"),
) -> None:
    """A pipeline whose clinx_ensemble votes over the split models (saved inside it)."""
    from ..workflow.ensemble import build_ensemble

    try:
        members = build_ensemble(training, output, name, version)
    except FileNotFoundError as err:  # no members.json: the split models are not trained
        fail(str(err))
    typer.echo(f"ensemble of {len(members)} members -> {output}")
