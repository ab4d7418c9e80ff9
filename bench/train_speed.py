"""Training speed: seconds per epoch of clinx_ner against flair, same encoder, same context.

Both fine-tune the same Hugging Face encoder on the same training documents for one epoch, in
turns (clinx, flair, clinx, flair...), with torch's threads fixed:

- clinx_ner: ``configs/{lang}_clinx_ner.cfg`` (context 100, windows of 400 subwords, CRF), the
  ``cpu`` profile's batch of 4 documents and learning rate; the ``nlp.update`` loop is timed.
- flair: ``SequenceTagger`` with ``TransformerWordEmbeddings(use_context=100)`` and a CRF
  (``bench/peers/flair_peer.py``, in ``bench/work/venv-flair``), mini-batches of 16 sentences; its
  ``fine_tune`` is timed, with a one-document dev set so that its end-of-epoch evaluation costs little.

Writes ``docs/speed-training.md``.

    python bench/train_speed.py ENCODER --train corpus/cpu/meddocan/train.spacy --n-docs 100
"""
import json
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Dict, List

import typer
from common import machine, require_flair, run_flair_peer, write_markdown


def clinx_epoch(encoder: str, train: Path, lang: str, n_docs: int, batch_size: int, learn_rate: float,
                threads: int) -> Dict:
    """One epoch of clinx_ner updates; seconds of the update loop only (not loading or initialising)."""
    import spacy
    import torch
    from spacy.tokens import DocBin
    from spacy.training import Example
    from spacy.util import load_config, minibatch
    from thinc.api import fix_random_seed

    torch.set_num_threads(threads)
    fix_random_seed(0)
    config = load_config(Path(f"configs/{lang}_clinx_ner.cfg"), overrides={
        "paths.encoder": encoder, "paths.train": str(train), "paths.dev": str(train),
        "training.optimizer.learn_rate.initial_rate": learn_rate}, interpolate=False)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    gold = list(DocBin().from_disk(train).get_docs(nlp.vocab))[:n_docs]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    optimizer = nlp.initialize(lambda: examples)
    random.Random(0).shuffle(examples)
    losses: Dict[str, float] = {}
    start = time.perf_counter()
    for batch in minibatch(examples, batch_size):
        nlp.update(batch, sgd=optimizer, losses=losses, drop=0.1)
    return {"seconds": time.perf_counter() - start, "docs": len(examples), "loss": losses.get("clinx_ner", 0.0)}


def flair_epoch(encoder: str, records: Path, dev: Path, out: Path, batch_size: int, learn_rate: float,
                threads: int) -> Dict:
    result = run_flair_peer("train", records, dev, encoder, out, "--epochs", 1, "--lr", learn_rate, "--context", 100,
                            "--batch-size", batch_size, "--threads", threads)
    return {"seconds": result["train_seconds"], "sentences": result["sentences"]}


def main(
    encoder: str = typer.Argument(..., help="Hugging Face encoder folder or hub name (the same for both)"),
    train: Path = typer.Option(..., help="training DocBin"),
    lang: str = typer.Option("es"),
    n_docs: int = typer.Option(100, help="the first N training documents (0: all)"),
    repeats: int = typer.Option(2),
    threads: int = typer.Option(2, help="torch threads"),
    learn_rate: float = typer.Option(5e-4, help="peak learning rate of both (the cpu profile's)"),
    clinx_batch: int = typer.Option(4, help="clinx_ner documents per update (the cpu profile's)"),
    flair_batch: int = typer.Option(16, help="flair sentences per update (the original CLIN-X code's)"),
    report: Path = typer.Option(Path("docs/speed-training.md")),
    workdir: Path = typer.Option(Path("bench/work/train-speed")),
) -> None:
    import spacy
    from spacy.tokens import DocBin

    sys.path.insert(0, str(Path(__file__).parent / "peers"))
    from exchange import doc_record

    require_flair()
    workdir.mkdir(parents=True, exist_ok=True)
    docs = list(DocBin().from_disk(train).get_docs(spacy.blank(lang).vocab))
    docs = docs[:n_docs] if n_docs else docs
    n_docs = len(docs)
    records, dev = workdir / "train.jsonl", workdir / "dev.jsonl"
    records.write_text("".join(json.dumps(doc_record(d), ensure_ascii=False) + "\n" for d in docs), encoding="utf8")
    dev.write_text(json.dumps(doc_record(docs[0]), ensure_ascii=False) + "\n", encoding="utf8")
    words = sum(len(d.text.split()) for d in docs)
    times: Dict[str, List[float]] = {"clinx_ner": [], "flair": []}
    for r in range(repeats):
        clinx = clinx_epoch(encoder, train, lang, n_docs, clinx_batch, learn_rate, threads)
        times["clinx_ner"].append(clinx["seconds"])
        typer.echo(f"run {r + 1}/{repeats} clinx_ner: {clinx['seconds']:.1f} s")
        flair = flair_epoch(encoder, records, dev, workdir / "flair", flair_batch, learn_rate, threads)
        times["flair"].append(flair["seconds"])
        typer.echo(f"run {r + 1}/{repeats} flair: {flair['seconds']:.1f} s ({flair['sentences']} sentences)")
    median = {name: statistics.median(t) for name, t in times.items()}
    (workdir / "results.json").write_text(json.dumps({"times": times, "median": median, "docs": n_docs,
                                                      "words": words}, indent=1))
    import torch
    lines = ["# Training speed: clinx_ner vs flair, one epoch", "",
             f"Date: {date.today()}. Machine: {machine()}. torch {torch.__version__} ({threads} threads).", "",
             "Command:", "", "```bash", f"python {' '.join(sys.argv)}", "```", "",
             f"The first {n_docs} documents of `{train}` ({words:,} whitespace words), encoder `{encoder}`, "
             f"context 100 for both, peak learning rate {learn_rate}. clinx_ner: {clinx_batch} documents per "
             f"update; flair: {flair_batch} sentences per update. Median of {repeats} epochs each, alternated.", "",
             "| system | median s per epoch | words/s | time / flair |", "|---|---:|---:|---:|"]
    for name, seconds in median.items():
        lines.append(f"| {name} | {seconds:.1f} | {words / seconds:,.0f} | {seconds / median['flair']:.2f} |")
    write_markdown(report, lines)


if __name__ == "__main__":
    typer.run(main)
