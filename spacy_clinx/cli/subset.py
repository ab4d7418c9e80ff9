"""``subset``: low-resource training data, the first N sentences of a corpus (paper 4.2)."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("subset")
def subset_command(
    data: Path = typer.Argument(..., help="DocBin written by convert"),
    output: Path = typer.Argument(..., help="DocBin to write"),
    sentences: int = typer.Option(..., "--sentences", "-n", help="keep the first N sentences, in corpus order; "
                                  "0: all"),
    lang: str = typer.Option("es", "--lang", "-l"),
) -> None:
    """Low-resource training data (paper 4.2): the first N sentences, not shuffled; the last
    document is cut at a sentence boundary."""
    from ..transfer.low_resource import write_subset

    try:
        subset = write_subset(data, output, sentences, lang)
    except ValueError as err:
        fail(str(err))
    if subset.requested > subset.available:
        typer.secho(f"{data} has only {subset.available} sentences: all are kept", fg="yellow")
    typer.echo(f"{subset.sentences} sentences in {subset.documents} documents, {subset.entities} entities -> {output}")
