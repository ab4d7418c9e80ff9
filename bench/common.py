"""Shared by the benchmarks: running the package's commands and the flair peer, preparing corpora,
scoring a pipeline, describing the machine."""
import fcntl
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy
import typer

FLAIR_PYTHON = Path("bench/work/venv-flair/bin/python")
FLAIR_PEER = Path(__file__).parent / "peers" / "flair_peer.py"


def parse_value(text: str) -> Any:
    """JSON where it parses (``0``, ``true``, ``null``), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def tried_setting(setting: str, baseline: str, example: str):
    """``NAME=VALUE`` and a baseline value -> (NAME, {"baseline": ..., "tried": ...}), values parsed as JSON
    where they parse; a one-line error (``example`` shows the form) otherwise."""
    name, equals, value = setting.partition("=")
    if not (name and equals and value):
        raise typer.BadParameter(f"--setting {setting!r}: give NAME=VALUE, e.g. {example}")
    return name, {"baseline": parse_value(baseline), "tried": parse_value(value)}


def clinx(*args, **run) -> None:
    """``python -m spacy_clinx ARGS`` in a subprocess, its output shown as it runs (``run``: more
    ``subprocess.run`` arguments, such as ``stdout`` or ``env``)."""
    subprocess.run([sys.executable, "-m", "spacy_clinx", *map(str, args)], check=True, **run)


def prepare_corpus(name: str, corpora_dir: Path, work: Path, lang: str = "es") -> Path:
    """``work/corpus/NAME/{train,dev,test}.spacy`` from the corpora folder (fetched and converted once).
    Two runs of a benchmark started side by side (one per core) take turns: the second waits for the
    first to finish the corpus instead of writing into the same folders."""
    data = work / "corpus" / name
    data.mkdir(parents=True, exist_ok=True)
    with open(data.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (data / "test.spacy").exists():
            clinx("fetch-corpus", name, work / "assets" / name, "--local", corpora_dir)
            for split in ("train", "dev", "test"):
                clinx("convert", work / "assets" / name / split, data / f"{split}.spacy", "--lang", lang)
    return data


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


#: Text below this line in a report is written by hand and kept when a benchmark rewrites the tables.
NOTES_MARKER = "<!-- notes written by hand below: kept when the benchmark rewrites this file -->"


def write_markdown(path: Path, lines: List[str], show: bool = True) -> None:
    """Write a report (and print it), keeping any hand-written notes below ``NOTES_MARKER``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf8") if path.exists() else ""
    notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else ""
    path.write_text("\n".join(lines) + "\n" + ("\n" + notes if notes else ""), encoding="utf8")
    if show:
        print("\n".join(lines))


def require_flair() -> None:
    """flair runs in its own virtualenv (its pins may clash with ours); say how to make it."""
    if not FLAIR_PYTHON.exists():
        raise typer.BadParameter(f"{FLAIR_PYTHON} is missing: python -m venv bench/work/venv-flair && "
                                 "bench/work/venv-flair/bin/pip install torch==2.13.0 flair 'transformers<4.53.3'")


def run_flair_peer(*args) -> Dict:
    """``peers/flair_peer.py ARGS`` in flair's virtualenv; returns the JSON line of timings it prints last."""
    require_flair()
    command = [str(FLAIR_PYTHON), str(FLAIR_PEER), *map(str, args)]
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as peer:
        for line in peer.stdout:  # flair logs its progress to stdout: pass it on
            print(line, end="", flush=True)
            last = line if line.strip() else last
    if peer.returncode != 0:
        raise subprocess.CalledProcessError(peer.returncode, command)
    return json.loads(last)


def strict_scores(nlp, test: Path) -> Dict:
    """Strict char P/R/F of ``nlp``'s doc.ents on the test DocBin, its bootstrap interval, and the
    seconds ``nlp.pipe`` took."""
    from spacy.tokens import DocBin
    from spacy.training import Example

    gold = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    start = time.perf_counter()
    predicted = list(nlp.pipe(doc.text for doc in gold))
    seconds = time.perf_counter() - start
    return {**scores_with_interval([Example(p, g) for p, g in zip(predicted, gold)]), "predict_seconds": seconds}


def scores_with_interval(examples: List) -> Dict:
    """``char_strict_prf`` plus ``spans_char_f_95``: the 95% bootstrap interval of F1 over documents."""
    from spacy_clinx.scoring import char_strict_prf

    return {**char_strict_prf(examples), "spans_char_f_95": f1_interval(document_counts(examples))}


def document_counts(examples: List) -> numpy.ndarray:
    """(documents, 3): each document's true positives, false positives, false negatives (strict char spans)."""
    from spacy_clinx.scoring import _char_spans, gold_char_spans

    counts = []
    for eg in examples:
        gold, predicted = gold_char_spans(eg.reference), _char_spans(eg.predicted, eg.predicted.ents)
        counts.append((len(gold & predicted), len(predicted - gold), len(gold - predicted)))
    return numpy.asarray(counts, dtype=numpy.float64).reshape(-1, 3)


def f1(counts: numpy.ndarray) -> numpy.ndarray:
    """Micro F1 of summed counts (the last axis: tp, fp, fn)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return numpy.where(denominator > 0, 2 * tp / numpy.maximum(denominator, 1), 0.0)


def resample(n_documents: int, samples: int = 2000, seed: int = 0) -> numpy.ndarray:
    """(samples, n_documents) document indices drawn with replacement, seeded: the same draws for
    every system scored on the same test set, so their intervals are paired."""
    return numpy.random.default_rng(seed).integers(0, n_documents, size=(samples, n_documents))


def interval(values: numpy.ndarray) -> List[float]:
    """The central 95% of ``values``, in percent, rounded to 0.01."""
    return [round(100 * float(numpy.percentile(values, q)), 2) for q in (2.5, 97.5)]


def f1_interval(counts: numpy.ndarray, samples: int = 2000, seed: int = 0) -> List[float]:
    """95% bootstrap interval of the micro F1 over documents."""
    return interval(f1(counts[resample(len(counts), samples, seed)].sum(1)))


def masked_lm_or_fail(path: Path):
    """The masked LM and tokenizer at ``path``, or one line naming what is wrong with it (exit 2)."""
    from spacy_clinx.cli._util import fail
    from spacy_clinx.model.encoder import EncoderLoadError, load_masked_lm

    try:
        return load_masked_lm(str(path))
    except EncoderLoadError as err:
        fail(str(err))
