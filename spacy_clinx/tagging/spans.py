"""Decoded tags -> character spans of the text -> spaCy spans of the doc.

A span's characters are those of its first to last non-empty subword (or word), so predictions map to
exact characters whatever the tokenizer; ``doc.char_span`` then grows them to spaCy token boundaries.
"""
from typing import List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..subwords import SubwordDoc
from .bioes import decode_tags

CharSpan = Tuple[int, int, str, float]  # start char, end char, label, score (nan if not computed)


def place_spans(doc: Doc, char_spans: Sequence[CharSpan]) -> Tuple[List, List[float]]:
    """Spans of ``doc`` for character spans (grown to token boundaries), and their scores."""
    placed = [(doc.char_span(s, e, label=label, alignment_mode="expand"), score) for s, e, label, score in char_spans]
    placed = [(span, score) for span, score in placed if span is not None]
    return [span for span, _ in placed], [score for _, score in placed]


def to_char_spans(doc: SubwordDoc, tags: Sequence[str], probs: Optional[numpy.ndarray] = None) -> List[CharSpan]:
    """Character spans of decoded subword spans, ignoring subwords with empty offsets.

    An entity's score is the mean CRF marginal probability of its tags.
    """
    out = []
    tagged_offsets = doc.tagged_offsets
    for first, last, label in decode_tags(tags):
        offsets = tagged_offsets[first:last]
        offsets = offsets[offsets[:, 1] > offsets[:, 0]]
        if len(offsets):
            score = float(numpy.mean(probs[first:last])) if probs is not None else float("nan")
            out.append((int(offsets[0, 0]), int(offsets[-1, 1]), label, score))
    return out
