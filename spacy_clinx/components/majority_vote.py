"""Majority vote over the tag sequences of several models (paper 3.3, after Clark et al. 2019).

Per subword, O wins when at least ``ceil(n / 2)`` members vote O; otherwise the most
frequent entity tag wins, ties going to the tag of the earliest member that voted
for one of the tied tags. The result may break BIOES rules (B-X, O, E-X); the span
decoder repairs it leniently.
"""
from typing import Sequence, Tuple

import numpy


def majority_vote(member_tags: Sequence[numpy.ndarray], n_tags: int, outside: int = 0) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Voted tag ids for one document, and the fraction of members agreeing with each.

    ``member_tags``: one array of tag ids per member, all of the document's length.
    """
    votes = numpy.stack([numpy.asarray(t, dtype=numpy.int64) for t in member_tags])  # (members, length)
    n, length = votes.shape
    if length == 0:
        return numpy.zeros(0, dtype=numpy.int64), numpy.zeros(0, dtype="float32")
    counts = numpy.zeros((length, n_tags), dtype=numpy.int64)
    numpy.add.at(counts, (numpy.arange(length)[None, :].repeat(n, 0), votes), 1)
    entity_counts = counts.copy()
    entity_counts[:, outside] = -1
    best = entity_counts.max(axis=1)
    # Tie-break: the first member (in member order) whose tag has the best count.
    first_member = numpy.argmax(entity_counts[numpy.arange(length)[None, :], votes] == best[None, :], axis=0)
    winner = votes[first_member, numpy.arange(length)]
    o_wins = counts[:, outside] >= (n + 1) // 2
    voted = numpy.where(o_wins, outside, winner)
    agreement = counts[numpy.arange(length), voted] / n
    return voted, agreement.astype("float32")
