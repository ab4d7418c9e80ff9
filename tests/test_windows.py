import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_clinx.windows import group_segments, make_batch, plan_windows


@settings(max_examples=300, deadline=None)
@given(
    breaks=st.lists(st.integers(0, 2), min_size=0, max_size=400),
    context=st.integers(0, 50),
    centre=st.integers(1, 80),
)
def test_every_subword_predicted_once_with_full_context(breaks, context, centre):
    n = len(breaks)
    windows = plan_windows(0, breaks, context, centre)
    predicted = numpy.zeros(n, dtype=int)
    for w in windows:
        assert 0 <= w.start <= w.centre_start < w.centre_end <= w.end <= n
        assert w.centre_end - w.centre_start <= centre
        predicted[w.centre_start : w.centre_end] += 1
        # min(N, available) context on each side, never beyond the document
        assert w.centre_start - w.start == min(context, w.centre_start)
        assert w.end - w.centre_end == min(context, n - w.centre_end)
    assert (predicted == 1).all()
    # centres are consecutive, so the document is covered in order
    assert [w.centre_start for w in windows] == [0, *(w.centre_end for w in windows[:-1])][: len(windows)]
    assert (windows == []) == (n == 0)


def test_centres_end_at_line_starts_when_possible():
    breaks = [2] + [0] * 9 + [1] + [0] * 4 + [2] + [0] * 10  # a word at 10, a line at 15
    windows = plan_windows(0, breaks, context=3, centre=18)
    assert windows[0].centre_end == 15


def test_each_subword_is_encoded_about_twice_with_centre_twice_context():
    breaks = [1] * 10_000
    windows = plan_windows(0, breaks, context=100, centre=200)
    encoded = sum(w.end - w.start for w in windows)
    assert 1.9 < encoded / len(breaks) <= 2.0


def test_segments_cut_where_allowed():
    windows = plan_windows(0, [1] * 100, context=2, centre=10)  # 10 windows
    blocked = {windows[4].centre_start}  # no cut before window 4
    segments = group_segments(windows, 4, lambda w: w.centre_start not in blocked)
    assert [len(s) for s in segments] == [3, 4, 3]
    assert [w for s in segments for w in s] == windows


def test_batch_arrays_point_at_centres():
    ids = numpy.arange(100, 130)
    doc = type("D", (), {"ids": ids})()
    windows = plan_windows(0, [1] * 30, context=4, centre=10)
    batch = make_batch(windows, [doc], prefix=[1], suffix=[2], pad_id=0)
    for b, w in enumerate(windows):
        centre = batch.input_ids[b][batch.centre_index[b][batch.centre_mask[b]]]
        assert centre.tolist() == ids[w.centre_start : w.centre_end].tolist()
        assert batch.input_ids[b][0] == 1 and 2 in batch.input_ids[b]
