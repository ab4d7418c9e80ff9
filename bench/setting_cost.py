"""What a runtime setting of ``clinx_ner`` costs: ``nlp.pipe`` over the first MEDDOCAN test notes
with the setting at ``--baseline`` and at the tried value, alternated, ``--repeats`` times each, in
one process holding one pipeline. Prints the seconds of every run, the medians and their ratio.

    # entity scores: the CRF marginals of spans_key, which clinx annotate writes as `score`
    python bench/setting_cost.py MODEL --setting spans_key=scores --baseline null
    # giving freed memory back to the OS, against never
    python bench/setting_cost.py MODEL --setting release_memory_growth_mb=256 --baseline 0
"""
import statistics
import time
from pathlib import Path

import typer
from common import parse_value


def main(
    model: str = typer.Argument(..., help="a pipeline with clinx_ner"),
    setting: str = typer.Option(..., help="NAME=VALUE, a clinx_ner runtime setting and the value to time"),
    baseline: str = typer.Option(..., help="the value to time it against"),
    texts: Path = typer.Option(Path("../shared/corpora/meddocan/test")),
    n_docs: int = typer.Option(100),
    repeats: int = typer.Option(2),
    threads: int = typer.Option(2, help="torch threads"),
) -> None:
    import spacy
    import torch
    from speed import clinx_component, read_texts

    name, _, value = setting.partition("=")
    values = {"baseline": parse_value(baseline), "tried": parse_value(value)}
    torch.set_num_threads(threads)
    notes = read_texts(texts)[:n_docs]
    nlp = spacy.load(model)
    ner = clinx_component(nlp)
    if not hasattr(ner, name):
        raise typer.BadParameter(f"clinx_ner has no setting {name!r}")
    list(nlp.pipe(notes[:10]))  # warm-up
    times = {key: [] for key in values}
    for _ in range(repeats):
        for key, v in values.items():
            setattr(ner, name, v)
            start = time.perf_counter()
            list(nlp.pipe(notes, batch_size=32))
            times[key].append(time.perf_counter() - start)
            typer.echo(f"{name}={v}: {times[key][-1]:.1f} s")
    median = {key: statistics.median(t) for key, t in times.items()}
    typer.echo(f"median {name}={values['baseline']}: {median['baseline']:.1f} s, {name}={values['tried']}: "
               f"{median['tried']:.1f} s, ratio {median['tried'] / median['baseline']:.3f}; "
               f"memory given back to the OS {ner.release_memory.releases} times in the last run")


if __name__ == "__main__":
    typer.run(main)
