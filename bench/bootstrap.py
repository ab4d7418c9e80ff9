"""Paired bootstrap over test documents: a 95% interval for each pipeline's strict char F1 and for
their difference, from one prediction pass of each.

Each pipeline's per-document counts are kept in ``bench/work/bootstrap-counts/`` (keyed by the
pipeline's, the test set's and spacy_clinx's source files, by size and modification time), so
pairing several models with one reference predicts the reference once; a retrained model, another
test set or a change to the prediction code predicts again.

Documents are resampled with replacement (``--samples`` times, seeded); each resample's F1 is the
micro F1 of its documents' summed true positives, false positives and false negatives. A
difference whose interval holds 0 is a tie. Results are printed as JSON and added to
``--results`` (one entry per corpus and pair).

    python bench/bootstrap.py A_MODEL B_MODEL --test bench/work/accuracy/corpus/pharmaconer/test.spacy \\
        --name pharmaconer:clinx-default-2026-12-vs-spacy-cnn
"""
import hashlib
import importlib.util
import json
from datetime import date
from pathlib import Path
from typing import Dict

import numpy
import typer
from common import document_counts, f1, interval, machine, resample
from spacy_clinx.workflow.records import fingerprint


COUNTS_CACHE = Path("bench/work/bootstrap-counts")


def counts_key(model: str, test: Path) -> str:
    """Names one pipeline's predictions on one test set with this checkout's prediction code: the
    model's, the test set's and spacy_clinx's source files, each by path, size and modification time."""
    code = Path(importlib.util.find_spec("spacy_clinx").origin).parent
    files = [fingerprint(Path(model).resolve()), fingerprint(test.resolve()), fingerprint(code, "*.py")]
    return hashlib.sha1(json.dumps(files).encode()).hexdigest()


def model_document_counts(model: str, test: Path) -> numpy.ndarray:
    """(documents, 3) true positives, false positives, false negatives of ``model`` per test
    document, from the cache when this model and test set were scored before."""
    cached = COUNTS_CACHE / f"{counts_key(model, test)}.npy" if Path(model).exists() else None
    if cached is not None and cached.exists():
        return numpy.load(cached)
    counts = predicted_document_counts(model, test)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        numpy.save(cached, counts)
    return counts


def predicted_document_counts(model: str, test: Path) -> numpy.ndarray:
    """Predict the test set's texts with ``model`` and count each document's matches."""
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Example

    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    return document_counts([Example(p, g) for p, g in zip(nlp.pipe(d.text for d in gold), gold)])


def main(a_model: str, b_model: str, test: Path = typer.Option(...), name: str = typer.Option(...),
         samples: int = 2000, seed: int = 0,
         results: Path = typer.Option(Path("bench/results/bootstrap.json"))) -> None:
    from spacy.util import is_package

    if not test.is_file():
        raise typer.BadParameter(f"--test {test}: no such DocBin file")
    for model in (a_model, b_model):
        if not (Path(model).is_dir() or is_package(model)):
            raise typer.BadParameter(f"{model}: neither a pipeline folder nor an installed package")
    a, b = model_document_counts(a_model, test), model_document_counts(b_model, test)
    picks = resample(len(a), samples, seed)
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
