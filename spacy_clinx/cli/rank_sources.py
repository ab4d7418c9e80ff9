"""``rank-sources``: which source model to transfer from, by model similarity (paper 3.4)."""
from pathlib import Path
from typing import List

import typer

from ._util import app, corpus_texts, fail


@app.command("rank-sources")
def rank_sources_command(
    target_model: str = typer.Argument(..., help="model trained on the target task (pipeline or HF encoder)"),
    target_texts: Path = typer.Argument(..., help="target training texts: DocBin or folder of .txt"),
    sources: List[str] = typer.Argument(..., help="candidate source models, NAME=PATH or PATH"),
    source_texts: List[str] = typer.Option([], "--source-texts", help="NAME=PATH: a source's training texts "
                                           "(DocBin or folder), for the vocabulary overlap and coverage baselines"),
    max_words: int = typer.Option(20_000, help="target words to embed (in corpus order)"),
    output: Path = typer.Option(None, "--output", "-o", help="also write the ranking as JSON"),
    no_transfer: str = typer.Option(None, "--no-transfer", help="the encoder the target model was trained "
                                    "from: ranked as the reference 'none'; a source below it is predicted not to help"),
) -> None:
    """Rank source models for transfer by model similarity (a linear map between their features
    of the target texts), with vocabulary overlap and coverage as text-similarity baselines."""
    import json

    from ..transfer.similarity import advice, rank_sources, ranking_table, split_name

    named = dict(split_name(s) for s in sources)
    texts_of = {name: corpus_texts(Path(path)) for name, path in map(split_name, source_texts)}
    unknown = set(texts_of) - set(named)
    if unknown:
        fail(f"--source-texts for unknown sources: {', '.join(sorted(unknown))} (sources: {', '.join(named)})")
    try:
        rows = rank_sources(target_model, corpus_texts(target_texts), named, texts_of, max_words, echo=typer.echo,
                            no_transfer=no_transfer)
    except (ValueError, OSError) as err:
        fail(str(err))
    typer.echo(ranking_table(rows))
    typer.echo(f"Predicted: {advice(rows)}")
    if output:
        output.write_text(json.dumps(rows, indent=1), encoding="utf8")
