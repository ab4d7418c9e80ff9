"""``teach``: training documents carrying an ensemble's mean CRF marginals, to distil it into one model."""
from pathlib import Path
from typing import List

import typer

from ._util import app, fail


@app.command("teach")
def teach_command(
    teachers: Path = typer.Argument(..., help="the ensemble pipeline (or one clinx_ner pipeline) to learn from"),
    inputs: List[Path] = typer.Argument(..., help="DocBins of the training documents (e.g. train.spacy dev.spacy)"),
    output: Path = typer.Option(..., "--output", "-o", help="DocBin to write: the documents with their marginals"),
) -> None:
    """Every document of INPUTS with the teachers' mean tag distribution of each subword, for a
    clinx_ner whose CRF head has teacher_weight > 0 (configs/distill.cfg)."""
    from ..workflow.teach import teach

    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        fail(f"no such DocBin: {', '.join(missing)}")
    try:
        n = teach(teachers, inputs, output)
    except (OSError, ValueError) as err:
        fail(str(err))
    typer.echo(f"{n} documents with the marginals of {teachers} -> {output}")
