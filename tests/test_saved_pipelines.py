"""Damaged saved pipelines fail with errors naming the file; training with one seed is reproducible."""
import json
import shutil
from pathlib import Path

import pytest
import spacy
import torch
from spacy.util import fix_random_seed

from pipelines import make_nlp
from spacy_clinx.components.clinx_ner import PipelineLoadError


def damaged_copy(trained_dir, tmp_path, how):
    path = shutil.copytree(trained_dir, tmp_path / "copy")
    model = path / "clinx_ner" / "model"
    if how == "missing":
        model.unlink()
    elif how == "truncated":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif how == "garbage":
        model.write_bytes(b"\x00not a model" * 100)
    return path


@pytest.mark.parametrize("how,message", [("missing", "is missing: the pipeline folder is incomplete"),
                                         ("truncated", "could not be read"), ("garbage", "could not be read")])
def test_damaged_model_file_is_named(trained_dir, tmp_path, how, message):
    path = damaged_copy(trained_dir, tmp_path, how)
    with pytest.raises(PipelineLoadError, match=message) as err:
        spacy.load(path)
    assert str(path / "clinx_ner" / "model") in str(err.value)


def test_missing_config_is_named(trained_dir, tmp_path):
    path = shutil.copytree(trained_dir, tmp_path / "copy")
    (path / "config.cfg").unlink()
    with pytest.raises(OSError, match="config.cfg"):
        spacy.load(path)


def train_briefly(encoder, examples, seed):
    fix_random_seed(seed)
    nlp = make_nlp(encoder, dropout=0.1)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 2e-3
    for _ in range(6):
        nlp.update(examples, sgd=optimizer)
    return nlp


def test_same_seed_gives_the_same_model_on_cpu(encoders, examples):
    texts = [eg.reference.text for eg in examples]
    first, second, other = (train_briefly(encoders["xlm-roberta"], examples, seed) for seed in (1, 1, 2))
    weights = [nlp.get_pipe("clinx_ner").model.to_bytes() for nlp in (first, second, other)]
    assert weights[0] == weights[1] and weights[0] != weights[2]
    ents = [[[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)] for nlp in (first, second)]
    assert ents[0] == ents[1]


SAVED = Path(__file__).parent / "fixtures" / "saved"


@pytest.mark.parametrize("name", ["clinx_ner-0.1.0", "clinx_ner-0.1.0-ablations"])
def test_a_pipeline_saved_by_release_0_1_0_predicts_what_it_predicted(meddocan_dir, name):
    """``fixtures/saved/`` holds pipelines saved before the component and model were reshaped
    (``make_saved_pipeline.py``: CRF, document windows and token features; the softmax head, sentence
    windows and word-level tagging); today's code loads them and finds the same entities."""
    expected = json.loads((SAVED / "expected.json").read_text(encoding="utf8"))[name]
    corpus = meddocan_dir.parent
    texts = [p.read_text(encoding="utf8") for split in ("train", "test") for p in sorted((corpus / split).glob("*.txt"))]
    nlp = spacy.load(SAVED / name)
    assert [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)] == expected
    assert sum(map(len, expected)) > 30


def test_weights_that_do_not_fit_are_named_and_transformers_buffers_are_tolerated(trained):
    import warnings

    from spacy_clinx.model.architecture import SavedWeightsMismatch, get_tagger, load_weights

    tagger = get_tagger(trained.get_pipe("clinx_ner").model)
    state = dict(tagger.state_dict())
    without_crf = {k: v for k, v in state.items() if k != "crf.transitions"}
    with pytest.raises(SavedWeightsMismatch, match=r"do not fit this model \(1 keys: crf\.transitions\)"):
        load_weights(tagger, without_crf, "4.40.0")
    buffer = "encoder.embeddings.position_ids"  # persistent in older transformers, absent in this one
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_weights(tagger, {**state, buffer: torch.arange(128)[None]}, "4.40.0")
    assert any(buffer in str(w.message) for w in caught)


def test_the_config_chooses_the_windows_and_the_copy_keeps_the_models_parts(trained_dir):
    """The window plan and head are config choices, not saved state: a load-time override wins."""
    sentence = {"@misc": "spacy_clinx.sentence_windows.v1", "centre": 32}
    nlp = spacy.load(trained_dir, config={"components.clinx_ner.model.windows": sentence})
    model = nlp.get_pipe("clinx_ner").model
    assert model.windows.needs_sentences and model.windows.longest == 32
    copied = model.copy()
    assert copied.windows == model.windows and copied.head.name == "crf" and copied.tagger is not None
