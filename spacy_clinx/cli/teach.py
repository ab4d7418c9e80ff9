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
    gpu_id: int = typer.Option(-1, help="GPU the teachers predict on; -1: the CPU"),
) -> None:
    """Every document of INPUTS with the teachers' mean tag distribution of each subword, for a
    clinx_ner whose head is spacy_clinx.crf_head.v2 with teacher_weight > 0 (what `distill` trains)."""
    from ..workflow.teach import teach

    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        fail(f"no such DocBin: {', '.join(missing)}")
    try:
        n = teach(teachers, inputs, output, gpu_id=gpu_id)
    except (OSError, ValueError) as err:
        fail(str(err))
    typer.echo(f"{n} documents with the marginals of {teachers} -> {output}")
