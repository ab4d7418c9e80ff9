"""A learning-rate schedule sized from the training data, so that the rate reaches 0 at the last
step of the last epoch whatever the corpus: warm-up over a share of the updates, then linear decay.

A fixed ``total_steps`` (``warmup_linear.v1``) fits one corpus; on a larger one the rate reaches 0
early and the rest of training learns nothing, on a smaller one it never decays.
"""
import math
from pathlib import Path
from typing import Iterable, Union

from spacy.tokens import DocBin
from thinc.api import registry, warmup_linear


def count_documents(corpus: Union[str, Path]) -> int:
    """Documents of a DocBin (.spacy) or a folder of them (as ``spacy.Corpus.v1`` reads), else of the
    brat, PubTator or JSONL corpus the ``spacy_clinx.BratCorpus.v1`` reader reads."""
    path = Path(corpus)
    if not path.exists():
        raise FileNotFoundError(f"learning-rate schedule: the training corpus {path} does not exist")
    docbins = [path] if path.suffix == ".spacy" else sorted(path.rglob("*.spacy"))
    if docbins:
        return sum(len(DocBin().from_disk(p)) for p in docbins)
    from .corpora.formats import read_records

    return sum(1 for record in read_records(path) if record.readable)


def updates_per_run(n_docs: int, batch_size: int, epochs: int) -> int:
    """Updates of ``epochs`` passes over ``n_docs`` documents in batches of ``batch_size`` documents."""
    if batch_size < 1 or epochs < 1:
        raise ValueError(f"learning-rate schedule: batch_size and epochs must be >= 1, got {batch_size}, {epochs}")
    return max(1, math.ceil(n_docs / batch_size) * epochs)


@registry.schedules("spacy_clinx.warmup_linear_over_corpus.v1")
def warmup_linear_over_corpus(initial_rate: float, warmup: float, corpus: str, batch_size: int,
                              epochs: int, max_steps: int = 0) -> Iterable[float]:
    """``warmup_linear.v1`` with ``total_steps`` = the updates of ``epochs`` epochs over ``corpus`` in
    batches of ``batch_size`` documents (``spacy.batch_by_sequence.v1``), or ``max_steps`` when that
    comes first (``[training] max_steps``; with ``epochs`` 0, ``max_steps`` alone), and ``warmup`` as a
    share of them."""
    if not 0 <= warmup < 1:
        raise ValueError(f"learning-rate schedule: warmup is a share of the updates in [0, 1), got {warmup}")
    if epochs < 1 and max_steps < 1:
        raise ValueError("learning-rate schedule: [training] needs max_epochs or max_steps to size the schedule")
    total = scheduled_updates(corpus, batch_size, epochs, max_steps)
    return warmup_linear(initial_rate, max(1, int(warmup * total)), total)


def scheduled_updates(corpus: Union[str, Path], batch_size: int, epochs: int, max_steps: int = 0) -> int:
    """The updates the schedule is sized to: ``epochs`` over ``corpus``, or ``max_steps`` when that
    comes first (with ``epochs`` 0, ``max_steps`` alone)."""
    total = max_steps if epochs < 1 else updates_per_run(count_documents(corpus), batch_size, epochs)
    return min(total, max_steps) if max_steps > 0 else total
