"""``fetch-corpus``: a corpus from a local copy or its official release, its digest checked."""
import os
from pathlib import Path

import typer

from ..workflow.corpora import SOURCES
from ._util import app, fail


@app.command("fetch-corpus")
def fetch_corpus_command(
    name: str = typer.Argument(..., help=f"a built-in corpus ({', '.join(SOURCES)}) or your own "
                                         "NAME/ in the corpora folder"),
    output: Path = typer.Argument(..., help="folder to write train/, dev/, test/ to"),
    local: str = typer.Option("", "--local", help="folder holding NAME/ (default: $CLINX_CORPORA)"),
    url: str = typer.Option("", "--url", help="archive to download instead of the official one"),
) -> None:
    """Copy a corpus from a local folder, or download its official release, and check its digest."""
    from ..workflow.corpora import CorpusUnavailable, fetch_corpus

    local_dir = local or os.environ.get("CLINX_CORPORA") or None
    try:
        origin, official = fetch_corpus(name, output, Path(local_dir) if local_dir else None, url or None)
    except CorpusUnavailable as err:
        fail(str(err))
    typer.echo(f"{name}: {origin} -> {output}")
    if official is False:  # None: a user's corpus, with no official release to compare
        typer.secho(f"{name}: the content differs from the official release (a partial or corrected copy)",
                    fg="yellow")
