"""Paired bootstrap over test documents: a 95% interval for each pipeline's strict char F1 and for
their difference, from one prediction pass of each.

Documents are resampled with replacement (``--samples`` times, seeded); each resample's F1 is the
micro F1 of its documents' summed true positives, false positives and false negatives. A
difference whose interval holds 0 is a tie. Results are printed as JSON and added to
``--results`` (one entry per corpus and pair).

    python bench/bootstrap.py A_MODEL B_MODEL --test bench/work/accuracy/corpus/pharmaconer/test.spacy \\
        --name pharmaconer:clinx-default-2026-12-vs-spacy-cnn
"""
import json
from datetime import date
from pathlib import Path
from typing import Dict, List

import numpy
import typer
from common import machine


def document_counts(model: str, test: Path) -> numpy.ndarray:
    """(documents, 3) true positives, false positives, false negatives of ``model`` per test document."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_clinx.scoring import _char_spans, gold_char_spans

    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    counts = []
    for doc, predicted in zip(gold, nlp.pipe(d.text for d in gold)):
        g, p = gold_char_spans(doc), _char_spans(predicted, predicted.ents)
        counts.append((len(g & p), len(p - g), len(g - p)))
    return numpy.asarray(counts, dtype=numpy.float64)


def f1(counts: numpy.ndarray) -> numpy.ndarray:
    """Micro F1 of summed counts along the last-but-one axis."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return numpy.where(denominator > 0, 2 * tp / numpy.maximum(denominator, 1), 0.0)


def interval(values: numpy.ndarray) -> List[float]:
    return [round(100 * float(numpy.percentile(values, q)), 2) for q in (2.5, 97.5)]


def main(a_model: str, b_model: str, test: Path = typer.Option(...), name: str = typer.Option(...),
         samples: int = 2000, seed: int = 0,
         results: Path = typer.Option(Path("bench/results/bootstrap.json"))) -> None:
    a, b = document_counts(a_model, test), document_counts(b_model, test)
    picks = numpy.random.default_rng(seed).integers(0, len(a), size=(samples, len(a)))
    fa, fb = f1(a[picks].sum(1)), f1(b[picks].sum(1))
    out: Dict = {"a": a_model, "b": b_model, "test": str(test), "documents": len(a), "samples": samples,
                 "a_f1": round(100 * float(f1(a.sum(0))), 2), "a_95": interval(fa),
                 "b_f1": round(100 * float(f1(b.sum(0))), 2), "b_95": interval(fb),
                 "difference": round(100 * float(f1(a.sum(0)) - f1(b.sum(0))), 2), "difference_95": interval(fa - fb),
                 "date": str(date.today()), "machine": machine()}
    print(json.dumps(out, indent=1))
    recorded = json.loads(results.read_text()) if results.exists() else {}
    recorded[name] = out
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(recorded, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
