"""Token features: every subword sees its spaCy token's NORM/PREFIX/SUFFIX/SHAPE (model/layers/token_features.py)."""
import numpy
import pytest
import spacy
import torch
from thinc.api import fix_random_seed

from pipelines import blank_nlp, make_nlp, train_until_perfect
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.model.layers import (
    TokenFeatureEmbed,
    create_token_features,
    create_token_features_in_context,
    subword_feature_ids,
    subword_tokens,
)
from spacy_clinx.model.encoder import load_encoder
from spacy_clinx.subwords import tokenize_text
from spacy_clinx.windows import Special, Window, make_batch

FEATURES = {"@misc": "spacy_clinx.TokenFeatures.v1"}
IN_CONTEXT = {"@misc": "spacy_clinx.TokenFeatures.v2", "depth": 2}


def entities(docs):
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def test_subwords_get_the_rows_of_the_token_that_holds_them(encoders):
    _, tokenizer = load_encoder(str(encoders["xlm-roberta"]))
    text = "Paciente  Ramírez-Gómez\nNHC 4471983."
    doc = blank_nlp()(text)
    sub = tokenize_text(tokenizer, text)
    spec = create_token_features()
    ids = subword_feature_ids(doc, sub.offsets, spec)
    assert ids.shape == (len(sub), 4 * 4) and ids.dtype == numpy.int32
    for i, (start, end) in enumerate(sub.offsets):
        if end == start:
            assert not ids[i].any()
            continue
        token = next(t for t in doc if t.idx <= start < t.idx + len(t))
        same = [j for j, (s, e) in enumerate(sub.offsets) if e > s and token.idx <= s < token.idx + len(token)]
        assert all((ids[j] == ids[i]).all() for j in same)  # all subwords of a token share its rows
        for k, rows in enumerate(spec.rows):
            assert ((1 <= ids[i, 4 * k: 4 * k + 4]) & (ids[i, 4 * k: 4 * k + 4] < rows)).all()
    by_token = {doc[0].text: ids[0], "NHC": ids[[j for j, (s, _) in enumerate(sub.offsets) if text[s:s + 3] == "NHC"][0]]}
    assert not (by_token["Paciente"] == by_token["NHC"]).all()


def test_unknown_attribute_and_mismatched_rows_are_refused():
    with pytest.raises(ValueError, match="Unknown token attribute"):
        create_token_features(attrs=["NORM", "COLOUR"], rows=[10, 10])
    with pytest.raises(ValueError, match="2 attrs but 1 row"):
        create_token_features(attrs=["NORM", "SHAPE"], rows=[10])


def test_the_input_projection_starts_at_zero_so_an_encoder_keeps_its_outputs(encoders):
    encoder, tokenizer = load_encoder(str(encoders["xlm-roberta"]))
    encoder.eval()
    embed = TokenFeatureEmbed(create_token_features(), encoder.config.hidden_size).eval()
    input_ids = torch.tensor([[0, 50, 61, 72, 2, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]])
    feature_ids = torch.randint(1, 1000, (1, 7, 16))
    features = embed(feature_ids)
    assert features.shape == (1, 7, 128)
    with torch.no_grad():
        plain = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        joined = encoder(inputs_embeds=encoder.get_input_embeddings()(input_ids) + embed.to_input(features),
                         attention_mask=mask).last_hidden_state
    assert torch.allclose(plain[:, :5], joined[:, :5], atol=1e-5)


def test_a_pipeline_with_token_features_learns_saves_and_reloads(encoders, examples, tmp_path):
    nlp = make_nlp(encoders["xlm-roberta"], token_features=FEATURES)
    epochs, f1 = train_until_perfect(nlp, examples)
    assert f1 == 1.0, f"strict char F1 {f1} after {epochs} epochs"
    tagger = get_tagger(nlp.get_pipe("clinx_ner").model)
    assert tagger.token_features is not None and tagger.token_features.tables[0].weight.abs().sum() > 0
    nlp.to_disk(tmp_path / "p")
    texts = [eg.reference.text for eg in examples]
    reloaded = spacy.load(tmp_path / "p")
    assert get_tagger(reloaded.get_pipe("clinx_ner").model).token_features.spec == tagger.token_features.spec
    assert entities(reloaded.pipe(texts)) == entities(nlp.pipe(texts))


def test_an_empty_attribute_list_means_no_token_features(encoders, examples):
    nlp = make_nlp(encoders["xlm-roberta"], token_features={**FEATURES, "attrs": []})
    nlp.initialize(lambda: examples[:2])
    assert get_tagger(nlp.get_pipe("clinx_ner").model).token_features is None


def test_training_dropout_sets_the_taggers_dropout(encoders, examples):
    nlp = make_nlp(encoders["xlm-roberta"], token_features=FEATURES)
    optimizer = nlp.initialize(lambda: examples[:2])
    tagger = get_tagger(nlp.get_pipe("clinx_ner").model)
    nlp.update(examples[:1], sgd=optimizer, drop=0.3)
    assert tagger.dropout.p == 0.3 and tagger.token_features.dropout.p == 0.3
    nlp.update(examples[:1], sgd=optimizer)  # nlp.update's default, as in spaCy: no dropout
    assert tagger.dropout.p == 0.0


def test_gradient_checkpointing_trains_to_the_same_loss_and_survives_saving(encoders, examples, tmp_path):
    losses = []
    for checkpointing in (False, True):
        fix_random_seed(0)
        nlp = make_nlp(encoders["xlm-roberta"], gradient_checkpointing=checkpointing)
        optimizer = nlp.initialize(lambda: examples[:2])
        losses.append([nlp.update(examples[:2], sgd=optimizer)["clinx_ner"] for _ in range(3)])
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert get_tagger(nlp.get_pipe("clinx_ner").model).encoder.is_gradient_checkpointing
    nlp.to_disk(tmp_path / "p")
    assert get_tagger(spacy.load(tmp_path / "p").get_pipe("clinx_ner").model).encoder.is_gradient_checkpointing


def test_int8_inference_predicts_what_float32_predicts_and_ignores_batch_mates(trained_dir, examples, caplog):
    """cpu_int8: ONNX Runtime's int8, each window run alone on its unpadded length: the fixtures'
    entities are float32's, and a note's scores are exactly the same alone and batched with others
    (one activation scale per run would let batch-mates and padding move them). The quantizer's
    advice to its own users is not logged."""
    texts = [eg.reference.text for eg in examples]
    float32 = entities(spacy.load(trained_dir).pipe(texts))
    int8 = spacy.load(trained_dir, config={"components.clinx_ner.cpu_int8": True})
    with caplog.at_level("INFO"):
        assert entities(int8.pipe(texts)) == float32
    assert not [r for r in caplog.records if "onnxruntime" in r.pathname]
    ner = int8.get_pipe("clinx_ner")
    tagger = get_tagger(ner.model)
    assert tagger._onnx_encoder.int8 and ner.model.windows_per_batch > 1
    assert not any("onnx" in key for key in tagger.state_dict())
    subwords = ner.subwords(texts, [int8.make_doc(t) for t in texts])
    onnx, rows, passes = tagger._onnx_encoder, [], []
    run = onnx.session.run
    onnx.session.run = lambda out, feed: rows.append(feed["attention_mask"].shape[0]) or run(out, feed)

    class CountingPasses:
        int8 = True

        def __call__(self, embeds, mask):
            passes.append(mask.shape[0])
            return onnx(embeds, mask)

    object.__setattr__(tagger, "_onnx_encoder", CountingPasses())
    together = ner.emissions(subwords)
    assert max(passes) > 1 and set(rows) == {1} and len(rows) == sum(passes)  # batched passes, windows run alone
    object.__setattr__(tagger, "_onnx_encoder", onnx)
    assert all(numpy.array_equal(ner.emissions([d])[0], t) for d, t in zip(subwords, together))
    ner.cpu_int8 = False  # float32 again: its scores are not int8's
    assert not all(numpy.array_equal(a, b) for a, b in zip(ner.emissions(subwords), together))


def test_onnx_runtime_inference_predicts_what_torch_predicts_on_the_fixtures(trained_dir, examples):
    texts = [eg.reference.text for eg in examples]
    torch_nlp = spacy.load(trained_dir)
    onnx_nlp = spacy.load(trained_dir, config={"components.clinx_ner.cpu_onnx": True})
    assert entities(onnx_nlp.pipe(texts)) == entities(torch_nlp.pipe(texts))
    docs = [torch_nlp.make_doc(t) for t in texts]
    ner = {name: nlp.get_pipe("clinx_ner") for name, nlp in (("torch", torch_nlp), ("onnx", onnx_nlp))}
    scores = {name: pipe.emissions(pipe.subwords(texts, docs)) for name, pipe in ner.items()}
    assert all(numpy.allclose(a, b, atol=1e-4) for a, b in zip(scores["torch"], scores["onnx"]))
    tagger = get_tagger(ner["onnx"].model)
    assert tagger._onnx_encoder is not None and not any("onnx" in key for key in tagger.state_dict())


def test_the_onnx_copies_follow_the_weights_after_an_update(encoders, examples):
    nlp = make_nlp(encoders["xlm-roberta"], token_features=FEATURES)
    optimizer = nlp.initialize(lambda: examples[:2])
    ner = nlp.get_pipe("clinx_ner")
    texts = [eg.reference.text for eg in examples[:2]]
    subwords = ner.subwords(texts, [nlp.make_doc(t) for t in texts])
    ner.cpu_onnx = True
    before = ner.emissions(subwords)
    nlp.update(examples[:2], sgd=optimizer)
    after = ner.emissions(subwords)  # a stale ONNX graph would repeat the old weights' scores
    ner.cpu_onnx = False
    exact = ner.emissions(subwords)
    assert all(numpy.allclose(a, b, atol=1e-4) for a, b in zip(after, exact))
    assert not all(numpy.allclose(a, b, atol=1e-4) for a, b in zip(after, before))
    ner.cpu_int8 = True
    int8_before = ner.emissions(subwords)
    nlp.update(examples[:2], sgd=optimizer)
    assert not all(numpy.allclose(a, b, atol=1e-3) for a, b in zip(ner.emissions(subwords), int8_before))


def test_onnx_runtime_scores_what_torch_scores_for_bert_and_refuses_longformer_in_one_line(encoders, examples):
    texts = [eg.reference.text for eg in examples]
    for arch in ("bert", "longformer"):
        nlp = make_nlp(encoders[arch])
        nlp.initialize(lambda: examples[:2])
        ner = nlp.get_pipe("clinx_ner")
        subwords = ner.subwords(texts, [nlp.make_doc(t) for t in texts])
        plain = ner.emissions(subwords)
        ner.cpu_onnx = True
        if arch == "bert":
            assert all(numpy.allclose(a, b, atol=1e-4) for a, b in zip(plain, ner.emissions(subwords)))
        else:  # its trace pads to the attention window of the export shape: caught before any prediction
            with pytest.raises(ValueError, match="longformer encoder differs from torch"):
                ner.emissions(subwords)


def test_an_ensemble_of_token_feature_members_uses_the_members_tokens_whatever_its_own_tokenizer(
        encoders, examples, tmp_path):
    members = []
    for seed in (0, 1):
        fix_random_seed(seed)
        nlp = make_nlp(encoders["xlm-roberta"], token_features={**FEATURES, "dropout": 0.1 * seed})
        train_until_perfect(nlp, examples, max_epochs=20)
        nlp.to_disk(tmp_path / f"m{seed}")
        members.append(str(tmp_path / f"m{seed}"))
    texts = [eg.reference.text for eg in examples]
    plain = spacy.blank("es")  # spaCy's own tokenizer, not the members' character-class one
    plain.add_pipe("clinx_ensemble", config={"members": members})
    plain.initialize()  # members differing in dropout only are compatible
    own = spacy.load(members[0]).tokenizer
    host = spacy.blank("es")
    host.tokenizer = own
    host.add_pipe("clinx_ensemble", config={"members": members})
    host.initialize()
    # the voted character spans (doc.ents then follow each pipeline's own token boundaries)
    voted = [nlp.get_pipe("clinx_ensemble").predict([nlp.make_doc(t) for t in texts])["voted"] for nlp in (plain, host)]
    assert voted[0] == voted[1] and sum(map(len, voted[0])) > 50


def context_inputs(encoders, text):
    """A window over the whole text: its feature rows and token slots, as the component builds them."""
    _, tokenizer = load_encoder(str(encoders["xlm-roberta"]))
    doc = blank_nlp()(text)
    sub = tokenize_text(tokenizer, text)
    spec = create_token_features_in_context(depth=2)
    sub.token_index = subword_tokens(doc, sub.offsets)
    sub.token_features = subword_feature_ids(doc, sub.offsets, spec, sub.token_index)
    n = len(sub)
    batch = make_batch([Window(0, 0, 0, n, n)], [sub], Special([0], [2], 1))
    return doc, sub, spec, batch


def test_token_slots_number_a_windows_tokens_from_one_and_leave_special_tokens_out(encoders):
    text = "Paciente  Ramírez-Gómez\n\nNHC 4471983."
    doc, sub, _, batch = context_inputs(encoders, text)
    slots = batch.token_slots[0]
    assert slots[0] == 0 and slots[len(sub) + 1] == 0  # CLS, SEP
    for i, (start, end) in enumerate(sub.offsets):
        token = next((t for t in doc if t.idx <= start < t.idx + len(t)), None)
        expected = 0 if end == start or token is None or token.is_space else token.i - doc[0].i + 1
        assert slots[i + 1] == expected
    assert set(slots[slots > 0]) <= set(range(1, len(doc) + 1))


def test_token_context_is_shared_by_a_tokens_subwords_and_reaches_depth_tokens_away(encoders):
    torch.manual_seed(0)
    text = "uno dos tres cuatro cinco seis siete ocho Ramírez-Gómez"
    doc, sub, spec, batch = context_inputs(encoders, text)
    embed = TokenFeatureEmbed(spec, 32).eval()
    ids, slots = torch.from_numpy(batch.token_feature_ids), torch.from_numpy(batch.token_slots)
    out = embed(ids, slots)
    assert out.shape == (1, len(sub) + 2, spec.output_width)
    assert not out[0, 0].any() and not out[0, -1].any()  # special tokens get no token vector
    for slot in set(slots[0].tolist()) - {0}:
        rows = out[0, slots[0] == slot]
        assert torch.allclose(rows, rows[:1].expand_as(rows))  # one vector per token
    # change the first token's features: tokens up to depth * window_size (2) away see it, further ones do not
    changed = ids.clone()
    changed[0, slots[0] == 1] = torch.randint(1, 50, (16,))
    moved = (embed(changed, slots) - out).abs().sum(-1)[0].detach()
    by_slot = {s: float(moved[slots[0] == s].max()) for s in set(slots[0].tolist()) - {0}}
    assert by_slot[1] > 0 and by_slot[2] > 0 and by_slot[3] > 0
    assert all(v == 0 for s, v in by_slot.items() if s > 3)


def test_a_pipeline_with_token_features_in_context_learns_saves_and_reloads(encoders, examples, tmp_path):
    nlp = make_nlp(encoders["xlm-roberta"], token_features=IN_CONTEXT)
    epochs, f1 = train_until_perfect(nlp, examples)
    assert f1 == 1.0, f"strict char F1 {f1} after {epochs} epochs"
    tagger = get_tagger(nlp.get_pipe("clinx_ner").model)
    assert tagger.token_features.context is not None and tagger.token_features.spec.depth == 2
    nlp.to_disk(tmp_path / "p")
    texts = [eg.reference.text for eg in examples]
    reloaded = spacy.load(tmp_path / "p")
    assert get_tagger(reloaded.get_pipe("clinx_ner").model).token_features.spec == tagger.token_features.spec
    assert entities(reloaded.pipe(texts)) == entities(nlp.pipe(texts))
    onnx = spacy.load(tmp_path / "p", config={"components.clinx_ner.cpu_onnx": True})  # features added in torch
    assert entities(onnx.pipe(texts)) == entities(nlp.pipe(texts))


def test_context_settings_are_checked():
    with pytest.raises(ValueError, match="depth must be"):
        create_token_features_in_context(depth=-1)
    with pytest.raises(ValueError, match="depth must be"):
        create_token_features_in_context(window_size=0)
    assert create_token_features_in_context(attrs=[]) is None


def test_the_head_learns_at_its_own_rate_and_the_encoder_at_the_optimizers(encoders, examples):
    """head_learn_rate_scale multiplies the step of the token features, emission layer and CRF only:
    from the same start, one update moves the encoder exactly as at scale 1 and the head further."""
    moved = {}
    for scale in (1.0, 10.0):
        fix_random_seed(0)
        nlp = make_nlp(encoders["xlm-roberta"], token_features=FEATURES, head_learn_rate_scale=scale)
        optimizer = nlp.initialize(lambda: examples[:2])
        tagger = get_tagger(nlp.get_pipe("clinx_ner").model)
        before = {k: v.detach().clone() for k, v in tagger.state_dict().items()}
        nlp.update(examples[:2], sgd=optimizer)
        moved[scale] = {k: float((v - before[k]).abs().sum()) for k, v in tagger.state_dict().items()}
    encoder = [k for k in moved[1.0] if k.startswith("encoder.") and moved[1.0][k] > 0]
    assert encoder and all(moved[10.0][k] == pytest.approx(moved[1.0][k], rel=1e-4) for k in encoder)
    for part in ("emission.weight", "crf.transitions", "token_features.to_input.weight"):
        assert moved[10.0][part] > 5 * moved[1.0][part] > 0, part
    with pytest.raises(ValueError, match="head_learn_rate_scale"):
        make_nlp(encoders["xlm-roberta"], head_learn_rate_scale=0)
