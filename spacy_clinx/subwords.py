"""A document as subwords: Hugging Face fast-tokenizer ids, whitespace-trimmed character offsets, and
the places a window may be cut (line starts, word starts, sentence starts).

A document is tokenised once, with no truncation; ``windows.py`` then plans the encoder's windows over
these subwords, so every subword's offsets map predictions back to exact characters.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy

from .corpora.sentences import FINAL_PUNCT


@dataclass
class SubwordDoc:
    """A document's subwords: vocabulary ids, character offsets and preferred cut points."""

    ids: numpy.ndarray  # (n,) int64
    offsets: numpy.ndarray  # (n, 2) int64, whitespace trimmed
    breaks: numpy.ndarray  # (n,) int8: 2 = starts a line, 1 = starts a word, 0 = inside a word
    sentences: Optional[numpy.ndarray] = None  # (n,) bool: starts a sentence (sentence windows only)
    units: Optional[numpy.ndarray] = None  # word-level tagging: indices of the tagged (first) subwords
    token_features: Optional[numpy.ndarray] = None  # (n, F) int32 token-feature table rows, if the model has them
    token_index: Optional[numpy.ndarray] = None  # (n,) 1 + the spaCy token of each subword (0: none), for token context

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tagged(self) -> numpy.ndarray:
        """Indices of the subwords that carry a tag: all of them, or each word's first."""
        return numpy.arange(len(self.ids)) if self.units is None else self.units

    @property
    def tagged_offsets(self) -> numpy.ndarray:
        """Character extent of each tagged position: a subword, or a word (first subword up to
        the last non-empty subword before the next word)."""
        if self.units is None:
            return self.offsets
        out = numpy.zeros((len(self.units), 2), dtype=numpy.int64)
        bounds = list(self.units) + [len(self.ids)]
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            span = self.offsets[a:b]
            span = span[span[:, 1] > span[:, 0]]
            out[k] = (span[0, 0], span[-1, 1]) if len(span) else self.offsets[a]
        return out


def first_subwords(offsets: numpy.ndarray, words: Sequence[Tuple[int, int]]) -> numpy.ndarray:
    """Index of the first subword overlapping each word (character start, end), once each: the
    tagged positions of word-level tagging (the paper's "- subword" ablation)."""
    nonempty = numpy.flatnonzero(offsets[:, 1] > offsets[:, 0])
    ends = offsets[nonempty, 1]
    found = []
    for start, end in words:
        k = int(numpy.searchsorted(ends, start, side="right"))
        if k < len(nonempty) and offsets[nonempty[k], 0] < end:
            found.append(int(nonempty[k]))
    return numpy.unique(numpy.asarray(found, dtype=numpy.int64))


def tokenize_text(tokenizer, text: str, with_sentences: bool = False) -> SubwordDoc:
    """Subword a whole document (no truncation) with a Hugging Face fast tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; character offsets need a "
            "Hugging Face *Fast tokenizer (install `tokenizers` or pick a model that has one)"
        )
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = numpy.asarray(enc["input_ids"], dtype=numpy.int64)
    offsets = numpy.asarray(enc["offset_mapping"], dtype=numpy.int64).reshape(-1, 2)
    codes = code_points(text)
    offsets = trim_offsets(text, offsets, codes)
    sentences = sentence_starts(text, offsets) if with_sentences else None
    return SubwordDoc(ids, offsets, cut_preferences(text, offsets, codes), sentences)


# Every code point for which str.isspace() holds (all lie below U+3001).
SPACE_CODES = numpy.asarray([c for c in range(0x3001) if chr(c).isspace()], dtype=numpy.uint32)


def code_points(text: str) -> numpy.ndarray:
    """The text as an array of code points (one per str index), for vectorised character tests."""
    return numpy.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=numpy.uint32)


def trim_offsets(text: str, offsets: numpy.ndarray, codes: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """Drop whitespace that some tokenizers (byte-level BPE, SentencePiece) count in a subword.

    Vectorised over the document (a per-subword Python loop cost as much as the encoder on
    long documents): for each character, the next and the last non-space character. ``codes``:
    ``code_points(text)`` when the caller has it already."""
    out = offsets.copy()
    n = len(text)
    if not len(offsets) or not n:
        return out
    space = numpy.isin(code_points(text) if codes is None else codes, SPACE_CODES)
    positions = numpy.arange(n)
    next_solid = numpy.append(numpy.minimum.accumulate(numpy.where(space, n, positions)[::-1])[::-1], n)
    last_solid = numpy.maximum.accumulate(numpy.where(space, -1, positions))
    starts, ends = offsets[:, 0], offsets[:, 1]
    new_starts = numpy.minimum(next_solid[starts], ends)
    trimmed = ends > new_starts
    out[:, 0] = new_starts
    out[:, 1] = numpy.where(trimmed, numpy.maximum(last_solid[numpy.maximum(ends - 1, 0)] + 1, new_starts), ends)
    return out


def cut_preferences(text: str, offsets: numpy.ndarray, codes: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """Per subword: 2 = starts a line (or the text), 1 = starts a word, 0 = inside a word;
    judged by the gap since the previous non-empty subword. Empty subwords get 0."""
    breaks = numpy.zeros(len(offsets), dtype=numpy.int8)
    solid = numpy.flatnonzero(offsets[:, 1] > offsets[:, 0])
    if not len(solid):
        return breaks
    starts = offsets[solid, 0]
    previous_ends = numpy.concatenate([[0], offsets[solid[:-1], 1]])
    newlines = numpy.concatenate([[0], numpy.cumsum((code_points(text) if codes is None else codes) == 10)])
    gap = starts > previous_ends
    line = gap & (newlines[starts] > newlines[numpy.minimum(previous_ends, starts)])
    breaks[solid] = numpy.where(line, 2, numpy.where(gap, 1, 0))
    if solid[0] == 0:
        breaks[0] = 2
    return breaks


def sentence_starts(text: str, offsets: numpy.ndarray) -> numpy.ndarray:
    """Subwords that start a sentence, by the converter's rules (``corpora/sentences.py``): the
    first, one after a line break, or one after final punctuation and a space."""
    starts = numpy.zeros(len(offsets), dtype=bool)
    prev_end = None
    for i, (s, e) in enumerate(offsets):
        if e == s:
            continue
        gap = text[prev_end:s] if prev_end is not None else ""
        starts[i] = prev_end is None or "\n" in gap or (bool(gap) and text[prev_end - 1] in FINAL_PUNCT)
        prev_end = e
    return starts
