"""What the token-level context of ``TokenFeatures.v2`` costs at inference: words/s of a trained
clinx_ner pipeline as saved, and of the same pipeline with its context layers skipped (v1's
computation: the same encoder, tables and emission layer; its predictions are not v1's, only its
cost), alternated ``--repeats`` times in one process with torch's threads fixed.

    python bench/token_context_cost.py MODEL --texts ../shared/corpora/meddocan/test
"""
import statistics
import time
from pathlib import Path

import spacy
import torch
import typer

from spacy_clinx.model.architecture import get_tagger


def main(model: Path = typer.Argument(..., exists=True, file_okay=False),
         texts: Path = typer.Option(Path("../shared/corpora/meddocan/test"), exists=True, file_okay=False),
         repeats: int = typer.Option(3, min=1), threads: int = typer.Option(2, min=1),
         batch_size: int = typer.Option(32, min=1)) -> None:
    notes = [p.read_text(encoding="utf8") for p in sorted(texts.glob("*.txt"))]
    if not notes:
        raise typer.BadParameter(f"{texts}: no .txt files")
    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    if "clinx_ner" not in nlp.pipe_names:
        raise typer.BadParameter(f"{model}: no clinx_ner component (pipes: {', '.join(nlp.pipe_names)})")
    features = get_tagger(nlp.get_pipe("clinx_ner").model).token_features
    if features is None or features.context is None:
        raise typer.BadParameter(f"{model}: its clinx_ner has no token features in context (TokenFeatures.v2, depth > 0)")
    words = sum(len(nlp.make_doc(t)) for t in notes)
    context = features.context
    list(nlp.pipe(notes[:8], batch_size=batch_size))  # warm-up
    seconds = {"as saved": [], "context skipped": []}
    for _ in range(repeats):
        for name in seconds:
            features.context = context if name == "as saved" else None
            start = time.perf_counter()
            list(nlp.pipe(notes, batch_size=batch_size))
            seconds[name].append(time.perf_counter() - start)
    features.context = context
    rates = {name: words / statistics.median(s) for name, s in seconds.items()}
    for name, rate in rates.items():
        print(f"{name}: {rate:,.0f} words/s (median of {repeats}; {len(notes)} notes, {words:,} words, {threads} threads)")
    print(f"as saved / context skipped: {rates['as saved'] / rates['context skipped']:.2f}x the words/s")


if __name__ == "__main__":
    typer.run(main)
