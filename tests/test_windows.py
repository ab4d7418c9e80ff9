import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_clinx.windows import Special, group_segments, make_batch, plan_windows


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
    batch = make_batch(windows, [doc], Special([1], [2], 0))
    for b, w in enumerate(windows):
        centre = batch.input_ids[b][batch.centre_index[b][batch.centre_mask[b]]]
        assert centre.tolist() == ids[w.centre_start : w.centre_end].tolist()
        assert batch.input_ids[b][0] == 1 and 2 in batch.input_ids[b]
    assert batch.token_feature_ids is None


def test_token_feature_rows_travel_with_their_subwords_and_are_zero_at_special_tokens():
    from spacy_clinx.subwords import SubwordDoc

    ids = numpy.arange(100, 130)
    features = numpy.arange(1, 31, dtype=numpy.int32)[:, None].repeat(3, axis=1)  # row i: i + 1
    doc = SubwordDoc(ids, numpy.zeros((30, 2), dtype=numpy.int64), numpy.ones(30, dtype=numpy.int8),
                     token_features=features)
    windows = plan_windows(0, [1] * 30, context=4, centre=10)
    batch = make_batch(windows, [doc], Special([1], [2], 0))
    assert batch.token_feature_ids.shape == batch.input_ids.shape + (3,)
    for b, w in enumerate(windows):
        row = batch.token_feature_ids[b, :, 0]
        assert row[0] == 0 and row[1 : 1 + w.end - w.start].tolist() == list(range(w.start + 1, w.end + 1))
        assert not row[1 + w.end - w.start:].any()  # the suffix token and the padding


def test_sentence_windows_hold_one_sentence_each_without_context():
    import re

    from spacy_clinx.subwords import sentence_starts
    from spacy_clinx.windows import plan_sentence_windows

    text = "Paciente de 45 años. Vive en Madrid\nAlta el 3 de marzo; sin cambios. Fin"
    offsets = numpy.asarray([m.span() for m in re.finditer(r"\w+|[^\w\s]", text)])
    starts = sentence_starts(text, offsets)
    words = [text[s:e] for s, e in offsets]
    assert [w for w, st in zip(words, starts) if st] == ["Paciente", "Vive", "Alta", "sin", "Fin"]
    windows = plan_sentence_windows(0, starts, [1] * len(words), centre=4)
    assert all(w.start == w.centre_start and w.end == w.centre_end for w in windows)  # no context
    assert [w.centre_start for w in windows if starts[w.centre_start]] == list(numpy.flatnonzero(starts))
    assert all(not starts[i] for w in windows for i in range(w.centre_start + 1, w.centre_end))  # never two
    assert max(w.centre_end - w.centre_start for w in windows) <= 4
    assert sum(w.centre_end - w.centre_start for w in windows) == len(words)


def test_word_level_tagging_tags_each_words_first_subword():
    from spacy_clinx.subwords import SubwordDoc, first_subwords

    #          "Dr"  "."  "Pérez" as "Pé" "rez", then "12/03" as "12/" "03"
    offsets = numpy.asarray([(0, 2), (2, 3), (4, 6), (6, 9), (10, 13), (13, 15)])
    words = [(0, 2), (2, 3), (4, 9), (10, 12), (12, 13), (13, 15)]  # spaCy tokens: Dr . Pérez 12 / 03
    units = first_subwords(offsets, words)
    assert units.tolist() == [0, 1, 2, 4, 5]  # "/" shares its subword with "12"
    doc = SubwordDoc(numpy.arange(6), offsets, numpy.zeros(6, dtype=numpy.int8), units=units)
    assert doc.tagged_offsets.tolist() == [[0, 2], [2, 3], [4, 9], [10, 13], [13, 15]]
    assert SubwordDoc(numpy.arange(6), offsets, numpy.zeros(6, dtype=numpy.int8)).tagged.tolist() == list(range(6))


def _trim_reference(text, offsets):
    out = offsets.copy()
    for i, (s, e) in enumerate(offsets):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out[i] = (s, e)
    return out


def _breaks_reference(text, offsets):
    breaks = numpy.zeros(len(offsets), dtype=numpy.int8)
    prev_end = 0
    for i, (s, e) in enumerate(offsets):
        if e == s:
            continue
        gap = text[prev_end:s]
        if i == 0 or "\n" in gap:
            breaks[i] = 2
        elif gap:
            breaks[i] = 1
        prev_end = e
    return breaks


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab \n\t\u00a0\u2028\u3000é"), max_size=60), data=st.data())
def test_vectorised_offsets_match_the_plain_loops(text, data):
    from spacy_clinx.subwords import cut_preferences, trim_offsets

    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=20)))
    offsets = numpy.asarray([(a, b) for a, b in zip(cuts, cuts[1:])] or numpy.zeros((0, 2)), dtype=numpy.int64)
    offsets = offsets.reshape(-1, 2)
    trimmed = trim_offsets(text, offsets)
    assert trimmed.tolist() == _trim_reference(text, offsets).tolist()
    assert cut_preferences(text, trimmed).tolist() == _breaks_reference(text, trimmed).tolist()


def test_gold_batches_cover_every_position_once_with_valid_tags_and_keep_entities_whole():
    """The training batch builder: whole segments of consecutive windows, at most max_windows per
    batch, each position of each document in exactly one segment with its gold tag, a segment cut
    only where no entity continues (here always possible), every segment a valid BIOES sequence."""
    from spacy_clinx.subwords import SubwordDoc
    from spacy_clinx.tagging import make_tag_names
    from spacy_clinx.windows import DocumentWindows, Special, gold_batches

    tag_names = make_tag_names(["A"], "BIOES")
    index = {t: i for i, t in enumerate(tag_names)}
    rng = numpy.random.default_rng(0)
    docs, gold = [], []
    for d, n in enumerate((57, 130, 9)):
        tags = ["O"] * n
        for start in range(3, n - 6, 11):  # entities of 1-5 subwords, some across window cuts
            length = int(rng.integers(1, 6))
            tags[start:start + length] = (["S-A"] if length == 1 else
                                          ["B-A"] + ["I-A"] * (length - 2) + ["E-A"])
        docs.append(SubwordDoc(1000 * d + numpy.arange(n) + 10, numpy.zeros((n, 2), dtype=numpy.int64),
                               numpy.ones(n, dtype=numpy.int8)))
        gold.append(numpy.asarray([index[t] for t in tags]))
    windows = DocumentWindows(context=3, centre=8)(docs)
    batches = gold_batches(windows, docs, gold, tag_names, 4, Special([1], [2], 0))
    seen = {d: [] for d in range(len(docs))}
    for batch in batches:
        assert len(batch.input_ids) <= 4
        centre_ids = batch.input_ids[numpy.arange(len(batch.input_ids))[:, None], batch.centre_index]
        flat_ids = centre_ids.reshape(-1)
        for row, mask, tags in zip(batch.segment_index, batch.segment_mask, batch.tags):
            ids, tags = flat_ids[row[mask]] - 10, tags[mask]
            doc, ids = int(ids[0]) // 1000, ids % 1000  # subword ids say which document and position
            assert doc in batch.docs
            assert list(ids) == list(range(ids[0], ids[0] + len(ids)))  # consecutive centres
            assert tags.tolist() == gold[doc][ids].tolist()  # cut between entities: nothing clipped
            seen[doc] += ids.tolist()
    assert {d: sorted(v) for d, v in seen.items()} == {d: list(range(len(g))) for d, g in enumerate(gold)}


def test_train_windows_cut_the_training_batches_and_prediction_keeps_the_models_windows(encoders, examples,
                                                                                     tmp_path):
    """train_windows without overlap: every training subword encoded once (the training batches hold no
    context), while prediction still encodes each centre with its context; the plan is the config's, so a
    loaded pipeline trains with it again, and it learns (how well is the benchmark's question: the tiny
    encoder, trained on centres of up to 64 subwords without context and predicting centres of 32 with 16
    on each side, found most of the fixtures' entities, not all, in 60 to 100 epochs)."""
    import spacy
    from thinc.api import fix_random_seed

    from pipelines import make_nlp, train_until_perfect
    from spacy_clinx.model.architecture import get_tagger

    fix_random_seed(0)
    no_overlap = {"@misc": "spacy_clinx.document_windows.v1", "context": 0, "centre": 64}
    nlp = make_nlp(encoders["xlm-roberta"], train_windows=no_overlap)
    ner = nlp.get_pipe("clinx_ner")
    epochs, f1 = train_until_perfect(nlp, examples[:2], max_epochs=60)
    assert f1 > 0.5, f"F1 {f1} on two training documents after {epochs} epochs"  # 0 untrained
    tagger = get_tagger(ner.model)
    n_special = len(tagger.special_prefix) + len(tagger.special_suffix)
    batches = ner.gold_batches(examples[:2])
    encoded_not_predicted = {int(n) for b in batches for n in b.attention_mask.sum(1) - b.centre_mask.sum(1)}
    assert encoded_not_predicted == {n_special}  # no context subwords in training
    subword_docs = ner.subwords([eg.reference.text for eg in examples[:2]], [eg.predicted for eg in examples[:2]])
    predicted = ner.model.windows(subword_docs)
    assert any(w.start < w.centre_start or w.end > w.centre_end for w in predicted)  # context when predicting
    assert sum(int(b.attention_mask.sum()) for b in batches) < sum(w.end - w.start + n_special for w in predicted)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p").get_pipe("clinx_ner")
    assert loaded.model.train_windows == ner.model.train_windows != loaded.model.windows


def test_sentence_windows_for_training_only_get_their_sentence_starts(encoders, examples):
    """train_windows of one sentence each beside document windows for prediction: the subwords cut for
    training carry the sentence starts it needs (those for prediction do not), and every training window,
    without context, stays inside one sentence."""
    from pipelines import make_nlp

    nlp = make_nlp(encoders["xlm-roberta"], train_windows={"@misc": "spacy_clinx.sentence_windows.v1", "centre": 32})
    ner = nlp.get_pipe("clinx_ner")
    nlp.initialize(lambda: examples[:2])
    texts, predicted = [eg.reference.text for eg in examples[:2]], [eg.predicted for eg in examples[:2]]
    assert all(d.sentences is None for d in ner.subwords(texts, predicted))
    subword_docs = ner.subwords(texts, predicted, ner.model.train_windows)
    assert all(d.sentences is not None for d in subword_docs)
    windows = ner.model.train_windows(subword_docs)
    assert windows and all(w.start == w.centre_start and w.end == w.centre_end for w in windows)
    assert not any(subword_docs[w.doc].sentences[w.start + 1 : w.end].any() for w in windows)
    assert ner.update(examples[:2], sgd=nlp.create_optimizer())["clinx_ner"] > 0
