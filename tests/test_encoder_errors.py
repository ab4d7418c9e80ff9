"""Encoder problems give an error that says what to do, not a traceback from inside transformers."""
import pytest
import torch

from pipelines import blank_nlp, gold_examples, tiny_encoder
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.model.encoder import EncoderLoadError, load_encoder


@pytest.fixture(scope="module")
def examples(meddocan_dir):
    return gold_examples(blank_nlp(), meddocan_dir)


@pytest.fixture(scope="module")
def bert_128(examples, tmp_path_factory):
    """A tiny WordPiece encoder with 128 positions."""
    return tiny_encoder("bert", [eg.reference.text for eg in examples], tmp_path_factory.mktemp("bert"))


def test_unavailable_hub_model_suggests_a_local_path():
    # HF_HUB_OFFLINE=1 (conftest): nothing is downloaded, the name cannot be resolved
    with pytest.raises(EncoderLoadError, match=r"(?s)no-such-org/no-such-model.*--local-dir DIR"):
        load_encoder("no-such-org/no-such-model")


def test_directory_without_config_is_named(tmp_path):
    with pytest.raises(EncoderLoadError, match=r"holds no config\.json"):
        load_encoder(str(tmp_path))


def test_initialize_reports_the_encoder_problem(examples, tmp_path):
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ner", config={"model": {"encoder": str(tmp_path / "missing")}})
    with pytest.raises(EncoderLoadError, match="Could not load the encoder"):
        nlp.initialize(lambda: examples)


def test_uninitialised_component_says_so():
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ner", config={"model": {"encoder": "unused"}})
    with pytest.raises(ValueError, match="not initialised"):
        nlp("Paciente de 70 años.")


def test_window_larger_than_the_encoder_is_rejected(examples, bert_128):
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ner", config={"model": {"encoder": str(bert_128), "windows": {"context": 100, "centre": 200}}})
    with pytest.raises(ValueError, match=r"exceed the encoder's limit of 128; lower `centre` or `context`"):
        nlp.initialize(lambda: examples)



def test_nan_loss_is_reported_before_any_update(examples, bert_128):
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ner", config={"model": {"encoder": str(bert_128), "windows": {"context": 16, "centre": 32}}})
    optimizer = nlp.initialize(lambda: examples)
    tagger = get_tagger(nlp.get_pipe("clinx_ner").model)
    with torch.no_grad():
        tagger.emission.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"the loss is nan on documents \['S"):
        nlp.update(examples[:1], sgd=optimizer)
