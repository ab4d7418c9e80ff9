"""cpu_bf16_training: the encoder trains under bfloat16 autocast on a CPU, predicts in float32 unless the
component's cpu_bf16 says otherwise, and a CPU without fast bfloat16 trains in float32 with a warning."""
import pytest
import spacy
import torch
from thinc.api import fix_random_seed

from pipelines import make_nlp, train_until_perfect
from spacy_clinx import device
from spacy_clinx.model.architecture import get_tagger


def autocast_seen_by_encoder(nlp):
    """A list that gets, at every encoder call, whether a CPU bfloat16 autocast is on."""
    seen = []
    get_tagger(nlp.get_pipe("clinx_ner").model).encoder.register_forward_hook(
        lambda module, args, output: seen.append(torch.is_autocast_enabled("cpu")
                                                 and torch.get_autocast_dtype("cpu") == torch.bfloat16))
    return seen


@pytest.fixture
def fast_bf16(monkeypatch):
    """As on a CPU with AVX-512, whatever this one has (autocast gives the same numbers where it is emulated)."""
    monkeypatch.setattr(device, "cpu_runs_bf16", lambda: True)
    device.bf16_fits_this_cpu.cache_clear()
    yield
    device.bf16_fits_this_cpu.cache_clear()


def test_the_encoder_trains_in_bf16_predicts_in_float32_and_learns_the_fixtures(encoders, examples, fast_bf16,
                                                                                 tmp_path):
    fix_random_seed(0)
    nlp = make_nlp(encoders["xlm-roberta"], cpu_bf16_training=True)
    epochs, f1 = train_until_perfect(nlp, examples[:2])
    assert f1 == 1.0, f"bf16 training did not learn two documents in {epochs} epochs"
    seen = autocast_seen_by_encoder(nlp)
    nlp.update(examples[:1], sgd=nlp.create_optimizer())
    assert seen and all(seen)
    seen.clear()
    list(nlp.pipe([examples[0].reference.text]))
    assert seen and not any(seen)
    nlp.to_disk(tmp_path / "p")  # the setting is the config's: a loaded pipeline trains in bf16 again
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("clinx_ner").model.attrs["cpu_bf16_training"] is True


def test_bf16_training_stays_close_to_float32s_loss(encoders, examples, fast_bf16):
    losses = {}
    for bf16 in (False, True):
        fix_random_seed(0)
        nlp = make_nlp(encoders["xlm-roberta"], cpu_bf16_training=bf16)
        optimizer = nlp.initialize(lambda: examples[:2])
        losses[bf16] = [nlp.update(examples[:2], sgd=optimizer)["clinx_ner"] for _ in range(3)]
    assert losses[True] != losses[False]  # it did change the arithmetic
    assert losses[True] == pytest.approx(losses[False], rel=0.05)


def test_a_cpu_without_fast_bf16_trains_in_float32_and_says_so(encoders, examples, monkeypatch):
    monkeypatch.setattr(device, "cpu_runs_bf16", lambda: False)
    device.bf16_fits_this_cpu.cache_clear()
    try:
        nlp = make_nlp(encoders["xlm-roberta"], cpu_bf16_training=True)
        optimizer = nlp.initialize(lambda: examples[:1])
        seen = autocast_seen_by_encoder(nlp)
        with pytest.warns(UserWarning, match="no fast bfloat16.*training in float32"):
            nlp.update(examples[:1], sgd=optimizer)
        assert seen and not any(seen)
    finally:
        device.bf16_fits_this_cpu.cache_clear()
