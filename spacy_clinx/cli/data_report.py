"""``data-report``: what a converted corpus holds, like ``spacy debug data``."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("data-report")
def data_report_command(
    corpus_dir: Path = typer.Argument(..., help="folder of the converted train/dev/test .spacy (and *-problems.tsv)"),
    output: Path = typer.Argument(..., help="report JSON to write (a .md table goes next to it)"),
    title: str = typer.Option("Data report"),
) -> None:
    """Documents, words and entities per split and label, entity lengths, nested and overlapping
    entities, dev/test labels that train lacks, conversion problems by kind."""
    from ..workflow.data_report import report_markdown, write_data_report

    try:
        report = write_data_report(corpus_dir, output, title)
    except FileNotFoundError as err:
        fail(str(err))
    typer.echo(report_markdown(report, title))
