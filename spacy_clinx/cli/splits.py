"""``splits``: the training splits of the workflow (paper 3.3)."""
from pathlib import Path

import typer

from ._util import app, fail


@app.command("splits")
def splits_command(
    train: Path = typer.Argument(..., help="training DocBin"),
    dev: Path = typer.Argument(..., help="development DocBin"),
    output: Path = typer.Argument(..., help="folder for split*/train.spacy, dev.spacy"),
    scheme: str = typer.Option("random", help="random (n parts of train+dev), standard, or all"),
    n_parts: int = typer.Option(5, "--n-parts", "-n"),
    seed: int = typer.Option(0),
) -> None:
    """Training splits (paper 3.3): n random parts of train+dev, each one the dev set of one split."""
    from ..workflow.splits import split_corpus

    try:
        summary = split_corpus(train, dev, output, scheme, n_parts, seed)
    except ValueError as err:
        fail(str(err))
    for s in summary:
        typer.echo(f"split{s['split']}: {len(s['train'])} training / {len(s['dev'])} model-selection documents")
