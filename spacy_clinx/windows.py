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
from typing import List, Optional, Sequence

import numpy

@dataclass
class SubwordDoc:
    """A document's subwords: vocabulary ids, character offsets and preferred cut points."""

    ids: numpy.ndarray  # (n,) int64
    offsets: numpy.ndarray  # (n, 2) int64, whitespace trimmed
    breaks: numpy.ndarray  # (n,) int8: 2 = starts a line, 1 = starts a word, 0 = inside a word

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Window:
    doc: int  # index of the document in the batch
    start: int  # first subword encoded (left context included)
    centre_start: int  # first subword predicted
    centre_end: int  # one past the last subword predicted
    end: int  # one past the last subword encoded


def tokenize_text(tokenizer, text: str) -> SubwordDoc:
    """Subword a whole document (no truncation) with a Hugging Face fast tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; character offsets need a "
            "Hugging Face *Fast tokenizer (install `tokenizers` or pick a model that has one)"
        )
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = numpy.asarray(enc["input_ids"], dtype=numpy.int64)
    offsets = numpy.asarray(enc["offset_mapping"], dtype=numpy.int64).reshape(-1, 2)
    offsets = trim_offsets(text, offsets)
    return SubwordDoc(ids, offsets, cut_preferences(text, offsets))


def trim_offsets(text: str, offsets: numpy.ndarray) -> numpy.ndarray:
    """Drop whitespace that some tokenizers (byte-level BPE, SentencePiece) count in a subword."""
    out = offsets.copy()
    for i, (s, e) in enumerate(offsets):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out[i] = (s, e)
    return out


def cut_preferences(text: str, offsets: numpy.ndarray) -> numpy.ndarray:
    breaks = numpy.zeros(len(offsets), dtype=numpy.int8)
    prev_end = 0
    for i, (s, e) in enumerate(offsets):
        if e == s:  # empty subword: cut after it, not before
            continue
        gap = text[prev_end:s]
        if i == 0 or "\n" in gap:
            breaks[i] = 2
        elif gap:
            breaks[i] = 1
        prev_end = e
    return breaks


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


def make_batch(
    windows: Sequence[Window],
    docs: Sequence[SubwordDoc],
    prefix: Sequence[int],
    suffix: Sequence[int],
    pad_id: int,
    segments: Optional[Sequence[Sequence[int]]] = None,
    tags: Optional[Sequence[numpy.ndarray]] = None,
) -> WindowBatch:
    """Pad windows into arrays; ``prefix``/``suffix`` are the model's special tokens (CLS/SEP).

    For training, ``segments`` lists runs of consecutive windows (positions in
    ``windows``) and ``tags`` the gold tag ids of each run's joined centres.
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
    if segments is not None:
        rows = [numpy.concatenate([b * C + numpy.arange(centres[b]) for b in seg]) for seg in segments]
        T = max(len(r) for r in rows)
        batch.segment_index = numpy.zeros((len(rows), T), dtype=numpy.int64)
        batch.segment_mask = numpy.zeros((len(rows), T), dtype=bool)
        batch.tags = numpy.zeros((len(rows), T), dtype=numpy.int64)
        for s, r in enumerate(rows):
            batch.segment_index[s, : len(r)] = r
            batch.segment_mask[s, : len(r)] = True
            batch.tags[s, : len(r)] = tags[s]
    return batch
