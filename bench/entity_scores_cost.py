"""What entity scores cost: ``nlp.pipe`` over the first 100 MEDDOCAN test notes with and without
``spans_key`` (the CRF marginals, by forward-backward, that ``clinx annotate`` writes as ``score``),
alternated, ``--repeats`` times each. Prints the seconds of every run.

    python bench/entity_scores_cost.py MODEL --texts ../shared/corpora/meddocan/test
"""
import time
from pathlib import Path

import typer


def main(
    model: str = typer.Argument(..., help="a pipeline with clinx_ner"),
    texts: Path = typer.Option(Path("../shared/corpora/meddocan/test")),
    n_docs: int = typer.Option(100),
    repeats: int = typer.Option(2),
    threads: int = typer.Option(2, help="torch threads"),
) -> None:
    import spacy
    import torch

    from speed import clinx_component, read_texts

    torch.set_num_threads(threads)
    notes = read_texts(texts)[:n_docs]
    nlp = spacy.load(model)
    ner = clinx_component(nlp)
    list(nlp.pipe(notes[:10]))  # warm-up
    for _ in range(repeats):
        for key in (None, "scores"):
            ner.spans_key = key
            start = time.perf_counter()
            list(nlp.pipe(notes, batch_size=32))
            typer.echo(f"spans_key={key}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    typer.run(main)
