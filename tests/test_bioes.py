import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_clinx.tagging import (
    allowed_transitions,
    boundary_maps,
    clip_tags,
    decode_tags,
    encode_spans,
    make_tag_names,
)

LABELS = ["DATE", "NAME", "ID-CODE"]  # a hyphen inside a label must survive


@st.composite
def subwords_and_spans(draw):
    """Subword offsets with gaps (whitespace) and empty subwords, plus spans on subword boundaries."""
    n = draw(st.integers(1, 40))
    offsets, pos = [], 0
    for _ in range(n):
        pos += draw(st.integers(0, 2))
        length = draw(st.sampled_from([0, 1, 2, 3, 5]))
        offsets.append((pos, pos + length))
        pos += length
    nonempty = [i for i, (s, e) in enumerate(offsets) if e > s]
    spans, i = [], 0
    while i < len(nonempty):
        if draw(st.booleans()):
            j = min(len(nonempty), i + draw(st.integers(1, 4)))
            first, last = nonempty[i], nonempty[j - 1]
            spans.append((offsets[first][0], offsets[last][1], draw(st.sampled_from(LABELS))))
            i = j
        else:
            i += 1
    return offsets, spans


def char_spans(offsets, tags):
    out = []
    for first, last, label in decode_tags(tags):
        inside = [offsets[k] for k in range(first, last) if offsets[k][1] > offsets[k][0]]
        out.append((inside[0][0], inside[-1][1], label))
    return out


def is_valid(tag_names, ids):
    start, trans, end = allowed_transitions(tag_names)
    return bool(start[ids[0]] and end[ids[-1]] and all(trans[a, b] for a, b in zip(ids, ids[1:])))


@settings(max_examples=300, deadline=None)
@given(subwords_and_spans(), st.sampled_from(["BIOES", "BIO"]))
def test_encode_decode_round_trip(data, scheme):
    offsets, spans = data
    tags = encode_spans(offsets, spans, scheme)
    assert char_spans(offsets, tags) == spans
    names = make_tag_names(LABELS, scheme)
    assert is_valid(names, [names.index(t) for t in tags])


@settings(max_examples=200, deadline=None)
@given(subwords_and_spans(), st.data())
def test_clipped_slices_stay_valid(data, draw):
    offsets, spans = data
    names = make_tag_names(LABELS)
    ids = numpy.asarray([names.index(t) for t in encode_spans(offsets, spans)])
    lo = draw.draw(st.integers(0, len(ids) - 1))
    hi = draw.draw(st.integers(lo + 1, len(ids)))
    first, last = boundary_maps(names)
    assert is_valid(names, clip_tags(ids[lo:hi], first, last))


def test_decode_repairs_invalid_sequences():
    tags = ["I-A", "E-A", "O", "B-A", "I-B", "E-B", "B-A", "O", "E-A", "B-A"]
    assert decode_tags(tags) == [(0, 2, "A"), (3, 4, "A"), (4, 6, "B"), (6, 7, "A"), (8, 9, "A"), (9, 10, "A")]


def test_tag_names_put_outside_first():
    assert make_tag_names(["B", "A"]) == ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"]
    assert make_tag_names(["A"], "BIO") == ["O", "B-A", "I-A"]
