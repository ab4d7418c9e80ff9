"""BIOES (and BIO) tags over subword tokens.

Subwords are given as character offsets ``(start, end)`` into the document text.
A span covers every subword that overlaps it; decoding returns the character
span from the first subword's start to the last subword's end. Tags are strings
``"O"``, ``"B-LABEL"``, ``"I-LABEL"``, ``"E-LABEL"``, ``"S-LABEL"``.
"""
from typing import Iterable, List, Sequence, Tuple

import numpy

OUTSIDE = "O"
CharSpan = Tuple[int, int, str]  # start char, end char, label


def make_tag_names(labels: Iterable[str], scheme: str = "BIOES") -> List[str]:
    """``["O", "B-X", "I-X", "E-X", "S-X", ...]``: index 0 is always O."""
    if scheme not in ("BIOES", "BIO"):
        raise ValueError(f"Unknown tagging scheme {scheme!r}: use 'BIOES' or 'BIO'")
    prefixes = "BIES" if scheme == "BIOES" else "BI"
    return [OUTSIDE] + [f"{p}-{label}" for label in sorted(labels) for p in prefixes]


def encode_spans(offsets: Sequence[Tuple[int, int]], spans: Iterable[CharSpan], scheme: str = "BIOES") -> List[str]:
    """Tag each subword for the (non-overlapping) character spans it overlaps.

    Subwords with empty offsets (e.g. a bare SentencePiece ``▁``) never belong to a span.
    """
    starts = numpy.asarray([s for s, _ in offsets], dtype=numpy.int64)
    ends = numpy.asarray([e for _, e in offsets], dtype=numpy.int64)
    tags = [OUTSIDE] * len(offsets)
    for start, end, label in spans:
        inside = numpy.flatnonzero((starts < end) & (ends > start) & (ends > starts))
        if inside.size == 0:
            continue
        first, last = int(inside[0]), int(inside[-1])
        if scheme == "BIO":
            tags[first] = f"B-{label}"
            for i in range(first + 1, last + 1):
                tags[i] = f"I-{label}"
        elif first == last:
            tags[first] = f"S-{label}"
        else:
            tags[first] = f"B-{label}"
            for i in range(first + 1, last):
                tags[i] = f"I-{label}"
            tags[last] = f"E-{label}"
    return tags


def decode_tags(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """Subword index spans ``(first, last_exclusive, label)`` from BIOES or BIO tags.

    Lenient, so that it also repairs sequences no CRF produced (ensemble votes):
    an I or E without a matching open entity starts one, a label change closes the
    previous entity, and an entity still open at the end is closed there.
    """
    spans: List[Tuple[int, int, str]] = []
    open_start, open_label = -1, None
    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        if prefix in ("B", "S") or tag == OUTSIDE or label != open_label:
            if open_label is not None:
                spans.append((open_start, i, open_label))
                open_label = None
            if tag == OUTSIDE:
                continue
            open_start, open_label = i, label
        if prefix in ("E", "S"):
            spans.append((open_start, i + 1, open_label))
            open_label = None
    if open_label is not None:
        spans.append((open_start, len(tags), open_label))
    return spans


def allowed_transitions(tag_names: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Boolean masks ``(start, transitions[from, to], end)`` of valid BIOES/BIO sequences."""
    parsed = [(t.partition("-")[0], t.partition("-")[2]) for t in tag_names]
    bio = not any(p in ("E", "S") for p, _ in parsed)
    n = len(tag_names)
    start = numpy.array([p in ("O", "B", "S") for p, _ in parsed])
    end = numpy.array([p in ("O", "E", "S") or (bio and p in ("B", "I")) for p, _ in parsed])
    trans = numpy.zeros((n, n), dtype=bool)
    for i, (p_from, l_from) in enumerate(parsed):
        for j, (p_to, l_to) in enumerate(parsed):
            if bio:
                ok = p_to in ("O", "B") or (p_to == "I" and p_from in ("B", "I") and l_from == l_to)
            elif p_from in ("O", "E", "S"):
                ok = p_to in ("O", "B", "S")
            else:  # inside an entity: continue or end the same label
                ok = p_to in ("I", "E") and l_from == l_to
            trans[i, j] = ok
    return start, trans, end


def boundary_maps(tag_names: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Tag-id maps that clip entities to a sequence cut out of a longer one.

    ``first[t]`` is what tag ``t`` becomes at the start of the cut (I-X -> B-X, E-X -> S-X),
    ``last[t]`` what it becomes at its end (B-X -> S-X, I-X -> E-X; BIO needs no change).
    """
    index = {t: i for i, t in enumerate(tag_names)}
    bio = not any(t[:2] in ("E-", "S-") for t in tag_names)
    first = numpy.arange(len(tag_names))
    last = numpy.arange(len(tag_names))
    for i, tag in enumerate(tag_names):
        prefix, _, label = tag.partition("-")
        if bio:
            if prefix == "I":
                first[i] = index[f"B-{label}"]
            continue
        if prefix in ("I", "E"):
            first[i] = index[f"{'B' if prefix == 'I' else 'S'}-{label}"]
        if prefix in ("B", "I"):
            last[i] = index[f"{'S' if prefix == 'B' else 'E'}-{label}"]
    return first, last


def clip_tags(tag_ids: numpy.ndarray, first: numpy.ndarray, last: numpy.ndarray) -> numpy.ndarray:
    """A valid tag sequence for a slice of a longer valid one (see :func:`boundary_maps`)."""
    out = numpy.array(tag_ids, copy=True)
    if len(out):
        out[0] = first[out[0]]
        out[-1] = last[out[-1]]
        if len(out) == 1:  # B-X/I-X/E-X alone become S-X
            out[0] = last[first[tag_ids[0]]]
    return out


def clip_distributions(probs: numpy.ndarray, first: numpy.ndarray, last: numpy.ndarray) -> numpy.ndarray:
    """:func:`clip_tags` for per-position tag distributions (n, K), a teacher's marginals: at the
    cut's start each tag's mass moves to ``first[tag]``, at its end to ``last[tag]``. A CRF cannot give
    I-X or E-X any probability where a sequence starts (nor B-X or I-X where it ends), so mass left
    there would pull those emissions up without end."""
    out = numpy.array(probs, dtype=numpy.float32, copy=True)
    for row, to in ((0, first), (-1, last)):
        if len(out):
            moved = numpy.zeros_like(out[row])
            numpy.add.at(moved, to, out[row])
            out[row] = moved
    return out
