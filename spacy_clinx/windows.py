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
from itertools import accumulate
from typing import Iterator, List, Optional, Protocol, Sequence, runtime_checkable

import numpy
from spacy.util import registry

from .subwords import SubwordDoc
from .tagging import boundary_maps, clip_distributions, clip_tags


@dataclass(frozen=True)
class Window:
    doc: int  # index of the document in the batch
    start: int  # first subword encoded (left context included)
    centre_start: int  # first subword predicted
    centre_end: int  # one past the last subword predicted
    end: int  # one past the last subword encoded


@dataclass(frozen=True)
class DocumentWindows:
    """Centres of at most ``centre`` subwords, each encoded with up to ``context`` subwords of its
    document on either side: every subword is predicted once, seeing its document around it."""

    context: int = 100
    centre: int = 200
    needs_sentences = False

    def __post_init__(self):
        check_sizes(self.context, self.centre)

    @property
    def longest(self) -> int:
        """Subwords of the longest window (special tokens not counted)."""
        return self.centre + 2 * self.context

    def __call__(self, docs: Sequence[SubwordDoc]) -> List[Window]:
        return [w for i, d in enumerate(docs) for w in plan_windows(i, d.breaks, self.context, self.centre)]


@dataclass(frozen=True)
class SentenceWindows:
    """One window per sentence, no context: the paper's "- context" ablation."""

    centre: int = 200
    needs_sentences = True

    @property
    def longest(self) -> int:
        return self.centre

    def __call__(self, docs: Sequence[SubwordDoc]) -> List[Window]:
        return [w for i, d in enumerate(docs) for w in plan_sentence_windows(i, d.sentences, d.breaks, self.centre)]


@runtime_checkable
class WindowPlan(Protocol):
    """Cuts documents into the encoder's windows (registered as ``spacy_clinx.*_windows.v1``)."""

    needs_sentences: bool  # the subwords must carry sentence starts

    @property
    def longest(self) -> int: ...

    def __call__(self, docs: Sequence[SubwordDoc]) -> List[Window]: ...


@registry.misc("spacy_clinx.document_windows.v1")
def create_document_windows(context: int = 100, centre: int = 200) -> DocumentWindows:
    return DocumentWindows(context, centre)


@registry.misc("spacy_clinx.sentence_windows.v1")
def create_sentence_windows(centre: int = 200) -> SentenceWindows:
    return SentenceWindows(centre)


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
    check_sizes(context, centre)
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


def check_sizes(context: int, centre: int) -> None:
    if centre < 1 or context < 0:
        raise ValueError(f"need centre >= 1 and context >= 0, got centre={centre}, context={context}")


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
    teacher: Optional[numpy.ndarray] = None  # (S, T, K) teachers' tag distributions per segment (distilling)
    token_feature_ids: Optional[numpy.ndarray] = None  # (B, L, F) token-feature rows, 0 at special tokens and padding
    token_slots: Optional[numpy.ndarray] = None  # (B, L) each position's token in its window (1, 2, ...; 0: none)
    weight: float = 1.0  # training: the factor of this batch's loss (1 / windows of the whole update)
    docs: Sequence[int] = ()  # training: the documents the batch's windows come from


@dataclass(frozen=True)
class Special:
    """A tokenizer's special-token ids around every window, and its padding id."""

    prefix: Sequence[int]
    suffix: Sequence[int]
    pad: int


def make_batch(
    windows: Sequence[Window],
    docs: Sequence[SubwordDoc],
    special: Special,
    segments: Optional[Sequence[Sequence[int]]] = None,
    tags: Optional[Sequence[numpy.ndarray]] = None,
    tagged: Optional[Sequence[numpy.ndarray]] = None,
    teacher: Optional[Sequence[numpy.ndarray]] = None,
) -> WindowBatch:
    """Pad windows into arrays, each between the model's special tokens (CLS/SEP), padded with its pad id.

    For training, ``segments`` lists runs of consecutive windows (positions in
    ``windows``) and ``tags`` the gold tag ids of each run's joined centres; ``tagged``, per
    window, the centre positions that carry a tag (default: all); ``teacher``, per run, the
    teachers' tag distributions of its tags (distilling).
    """
    prefix, suffix = special.prefix, special.suffix
    lengths = [w.end - w.start + len(prefix) + len(suffix) for w in windows]
    centres = [w.centre_end - w.centre_start for w in windows]
    B, L, C = len(windows), max(lengths), max(centres)
    input_ids = numpy.full((B, L), special.pad, dtype=numpy.int64)
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
    if docs and windows and getattr(docs[windows[0].doc], "token_index", None) is not None:
        batch.token_slots = numpy.zeros((B, L), dtype=numpy.int64)
        for b, w in enumerate(windows):
            tokens = docs[w.doc].token_index[w.start : w.end]
            present = tokens > 0
            if present.any():  # the window's first token is slot 1; a whitespace token between keeps its slot
                slots = numpy.where(present, tokens - tokens[present].min() + 1, 0)
                batch.token_slots[b, len(prefix) : len(prefix) + len(slots)] = slots
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
        if teacher is not None:
            batch.teacher = numpy.zeros((len(rows), T, teacher[0].shape[-1]), dtype=numpy.float32)
            for s, r in enumerate(rows):
                batch.teacher[s, : len(r)] = teacher[s]
    return batch


def length_sorted_batches(windows: Sequence[Window], size: int) -> Iterator[List[Window]]:
    """Batches of ``size`` windows of similar length: little padding, so little wasted encoder work."""
    ordered = sorted(windows, key=lambda w: w.end - w.start)
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def gold_batches(windows: Sequence[Window], docs: Sequence[SubwordDoc], gold: Sequence[numpy.ndarray],
                 tag_names: Sequence[str], max_windows: int, special: Special,
                 teacher: Optional[Sequence[numpy.ndarray]] = None) -> List[WindowBatch]:
    """Training batches for ``windows`` of ``docs`` with gold tag ids ``gold`` (one per tagged position).

    The CRF learns from *segments*, runs of a document's consecutive windows whose centres are joined
    into one tag sequence, as it decodes whole documents. A segment ends where no gold entity continues
    across the cut if it can, its tags are clipped into a valid sequence where one must, and whole
    segments are packed into batches of at most ``max_windows`` windows. A segment with no tagged
    position (word-level tagging) is left out. Each batch's ``weight`` makes the summed loss of all
    batches the mean per window. ``teacher``: per document, the teachers' tag distributions of its
    tagged positions (n, K), cut into the segments as the gold tags are."""
    first, last = boundary_maps(tag_names)
    continues = [numpy.asarray([tag_names[t][:2] in ("I-", "E-") for t in g] + [False], dtype=bool) for g in gold]
    tagged = [d.tagged for d in docs]

    def first_tagged(w: Window, at: int) -> int:
        return int(numpy.searchsorted(tagged[w.doc], at))

    segments = group_segments(windows, max_windows, lambda w: not continues[w.doc][first_tagged(w, w.centre_start)])
    segments = [seg for seg in segments
                if first_tagged(seg[0], seg[0].centre_start) < first_tagged(seg[-1], seg[-1].centre_end)]
    batches = []
    for batch_segments in pack_segments(segments, max_windows):
        batch_windows = [w for seg in batch_segments for w in seg]
        ends = list(accumulate(len(seg) for seg in batch_segments))
        positions = [list(range(end - len(seg), end)) for seg, end in zip(batch_segments, ends)]
        ranges = [(seg[0].doc, first_tagged(seg[0], seg[0].centre_start), first_tagged(seg[-1], seg[-1].centre_end))
                  for seg in batch_segments]
        seg_tags = [clip_tags(gold[doc][a:b], first, last) for doc, a, b in ranges]
        seg_teacher = None if teacher is None else [clip_distributions(teacher[doc][a:b], first, last)
                                                    for doc, a, b in ranges]
        picks = [tagged[w.doc][first_tagged(w, w.centre_start):first_tagged(w, w.centre_end)] - w.centre_start
                 for w in batch_windows]
        batch = make_batch(batch_windows, docs, special, positions, seg_tags, picks, seg_teacher)
        batch.docs = sorted({w.doc for w in batch_windows})
        batch.weight = 1.0 / len(windows)  # the update's loss: the mean per window
        batches.append(batch)
    return batches


def pack_segments(segments: List[List[Window]], max_windows: int) -> Iterator[List[List[Window]]]:
    """Greedy batches of whole segments with at most ``max_windows`` windows each."""
    batch: List[List[Window]] = []
    size = 0
    for seg in sorted(segments, key=lambda seg: max(w.end - w.start for w in seg)):
        if batch and size + len(seg) > max_windows:
            yield batch
            batch, size = [], 0
        batch.append(seg)
        size += len(seg)
    if batch:
        yield batch
