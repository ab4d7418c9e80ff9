"""Damaged saved pipelines fail with errors naming the file; training with one seed is reproducible."""
import json
import shutil
from pathlib import Path

import pytest
import spacy
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


def test_a_pipeline_saved_by_release_0_1_0_predicts_what_it_predicted(meddocan_dir):
    """``fixtures/saved/clinx_ner-0.1.0`` was saved before the component and model were reshaped
    (``make_saved_pipeline.py``); today's code loads it and finds the same entities."""
    expected = json.loads((SAVED / "expected.json").read_text(encoding="utf8"))["entities"]
    corpus = meddocan_dir.parent
    texts = [p.read_text(encoding="utf8") for split in ("train", "test") for p in sorted((corpus / split).glob("*.txt"))]
    nlp = spacy.load(SAVED / "clinx_ner-0.1.0")
    assert [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)] == expected
