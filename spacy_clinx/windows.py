"""Document context for subword taggers: overlapping windows, each predicting only its centre.

A document is tokenised once into subwords. Its subwords are cut into consecutive
*centres* of at most ``centre`` subwords (preferably at line starts, else at word
starts); each centre is encoded together with up to ``context`` subwords on
its left and right, never crossing the document boundary. Every subword is
predicted exactly once, and with ``centre == 2 * context`` each subword is encoded
about twice (the paper's sentence-plus-context inputs encode it once per sentence
that sees it).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy


@dataclass
class SubwordDoc:
    """A document's subwords: vocabulary ids, character offsets and preferred cut points."""

    ids: numpy.ndarray  # (n,) int64
    offsets: numpy.ndarray  # (n, 2) int64, whitespace trimmed
    breaks: numpy.ndarray  # (n,) int8: 2 = starts a line, 1 = starts a word, 0 = inside a word
    sentences: Optional[numpy.ndarray] = None  # (n,) bool: starts a sentence (sentence windows only)
    units: Optional[numpy.ndarray] = None  # word-level tagging: indices of the tagged (first) subwords
    token_features: Optional[numpy.ndarray] = None  # (n, F) int32 token-feature table rows, if the model has them

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


@dataclass(frozen=True)
class Window:
    doc: int  # index of the document in the batch
    start: int  # first subword encoded (left context included)
    centre_start: int  # first subword predicted
    centre_end: int  # one past the last subword predicted
    end: int  # one past the last subword encoded


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


FINAL_PUNCT = ".!?;"


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


def plan_sentence_windows(doc: int, sentences: numpy.ndarray, breaks: Sequence[int], centre: int) -> List[Window]:
    """One window per sentence, without context (the "- context" ablation); a sentence longer
    than ``centre`` subwords is cut as :func:`plan_windows` cuts a document."""
    bounds = [int(i) for i in numpy.flatnonzero(sentences)] + [len(sentences)]
    if not bounds or bounds[0] != 0:
        bounds = [0] + bounds
    windows: List[Window] = []
    for a, b in zip(bounds, bounds[1:]):
        windows += [Window(doc, a + w.start, a + w.centre_start, a + w.centre_end, a + w.end)
                    for w in plan_windows(doc, breaks[a:b], 0, centre)]
    return windows


def plan_windows(doc: int, breaks: Sequence[int], context: int, centre: int) -> List[Window]:
    """Consecutive centres covering all ``len(breaks)`` subwords, each with its context.

    A centre ends where ``breaks`` is highest in its second half.
    """
    if centre < 1 or context < 0:
        raise ValueError(f"need centre >= 1 and context >= 0, got centre={centre}, context={context}")
    n = len(breaks)
    windows: List[Window] = []
    start = 0
    while start < n:
        end = min(start + centre, n)
        if end < n:
            end = _best_cut(breaks, start + max(1, centre // 2), end) or end
        windows.append(Window(doc, max(0, start - context), start, end, min(n, end + context)))
        start = end
    return windows


def _best_cut(breaks: Sequence[int], lo: int, hi: int) -> Optional[int]:
    """Latest position in ``[lo, hi]`` that starts a line, else a word; None if neither."""
    for level in (2, 1):
        for i in range(hi, lo - 1, -1):
            if breaks[i] >= level:
                return i
    return None


def group_segments(windows: Sequence[Window], max_windows: int, can_cut) -> List[List[Window]]:
    """Runs of consecutive windows of one document, at most ``max_windows`` long.

    The CRF is trained on each run's joined centres, as it decodes whole documents.
    A run ends before a window for which ``can_cut(window)`` holds (training: no gold
    entity continues across it) where possible.
    """
    segments: List[List[Window]] = []
    current: List[Window] = []
    for w in windows:
        if current and (w.doc != current[-1].doc or len(current) == max_windows):
            if w.doc == current[-1].doc and not can_cut(w):
                k = next((k for k in range(len(current) - 1, 0, -1) if can_cut(current[k])), None)
                if k is not None:
                    segments.append(current[:k])
                    current = current[k:]
                    current.append(w)
                    continue
            segments.append(current)
            current = []
        current.append(w)
    if current:
        segments.append(current)
    return segments


@dataclass
class WindowBatch:
    """Padded arrays for one forward pass; ``tags`` and ``segment_*`` only when training."""

    input_ids: numpy.ndarray  # (B, L) with special tokens
    attention_mask: numpy.ndarray  # (B, L)
    centre_index: numpy.ndarray  # (B, C): positions in input_ids of the centre subwords
    centre_mask: numpy.ndarray  # (B, C) bool
    segment_index: Optional[numpy.ndarray] = None  # (S, T): rows of the flattened (B*C) centres
    segment_mask: Optional[numpy.ndarray] = None  # (S, T) bool
    tags: Optional[numpy.ndarray] = None  # (S, T) gold tag ids per segment
    token_feature_ids: Optional[numpy.ndarray] = None  # (B, L, F) token-feature rows, 0 at special tokens and padding


def make_batch(
    windows: Sequence[Window],
    docs: Sequence[SubwordDoc],
    prefix: Sequence[int],
    suffix: Sequence[int],
    pad_id: int,
    segments: Optional[Sequence[Sequence[int]]] = None,
    tags: Optional[Sequence[numpy.ndarray]] = None,
    tagged: Optional[Sequence[numpy.ndarray]] = None,
) -> WindowBatch:
    """Pad windows into arrays; ``prefix``/``suffix`` are the model's special tokens (CLS/SEP).

    For training, ``segments`` lists runs of consecutive windows (positions in
    ``windows``) and ``tags`` the gold tag ids of each run's joined centres; ``tagged``, per
    window, the centre positions that carry a tag (default: all).
    """
    lengths = [w.end - w.start + len(prefix) + len(suffix) for w in windows]
    centres = [w.centre_end - w.centre_start for w in windows]
    B, L, C = len(windows), max(lengths), max(centres)
    input_ids = numpy.full((B, L), pad_id, dtype=numpy.int64)
    attention_mask = numpy.zeros((B, L), dtype=numpy.int64)
    centre_index = numpy.zeros((B, C), dtype=numpy.int64)
    centre_mask = numpy.zeros((B, C), dtype=bool)
    for b, w in enumerate(windows):
        row = numpy.concatenate([prefix, docs[w.doc].ids[w.start : w.end], suffix]).astype(numpy.int64)
        input_ids[b, : len(row)] = row
        attention_mask[b, : len(row)] = 1
        first = len(prefix) + w.centre_start - w.start
        centre_index[b, : centres[b]] = numpy.arange(first, first + centres[b])
        centre_mask[b, : centres[b]] = True
    batch = WindowBatch(input_ids, attention_mask, centre_index, centre_mask)
    if docs and windows and getattr(docs[windows[0].doc], "token_features", None) is not None:
        F = docs[windows[0].doc].token_features.shape[1]
        batch.token_feature_ids = numpy.zeros((B, L, F), dtype=numpy.int64)
        for b, w in enumerate(windows):
            first = len(prefix)
            batch.token_feature_ids[b, first : first + w.end - w.start] = docs[w.doc].token_features[w.start : w.end]
    if segments is not None:
        picks = tagged if tagged is not None else [numpy.arange(c) for c in centres]
        rows = [numpy.concatenate([b * C + picks[b] for b in seg]) for seg in segments]
        T = max(len(r) for r in rows)
        batch.segment_index = numpy.zeros((len(rows), T), dtype=numpy.int64)
        batch.segment_mask = numpy.zeros((len(rows), T), dtype=bool)
        batch.tags = numpy.zeros((len(rows), T), dtype=numpy.int64)
        for s, r in enumerate(rows):
            batch.segment_index[s, : len(r)] = r
            batch.segment_mask[s, : len(r)] = True
            batch.tags[s, : len(r)] = tags[s]
    return batch
