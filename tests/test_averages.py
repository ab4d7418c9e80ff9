"""spaCy's parameter averaging (``[training.optimizer] use_averages = true``) reaches clinx_ner's torch
weights: evaluation and the saved pipelines use the averages; the raw weights and the averages are
both left as they were."""
import io

import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from thinc.api import Adam

from pipelines import TINY_MODEL, make_nlp
from spacy_clinx.model.architecture import get_tagger
from test_resumable_train import CONFIG, weights


def raw_weights(nlp):
    return {k: v.clone() for k, v in get_tagger(nlp.get_pipe("clinx_ner").model).state_dict().items()}


@pytest.mark.parametrize("head_rate", [1.0, 10.0])  # 10: the optimizer reaches the weights through LayerRates
def test_use_params_swaps_in_the_averages_and_restores_the_weights(examples, encoders, head_rate):
    nlp = make_nlp(encoders["xlm-roberta"], head_learn_rate_scale=head_rate)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.002, use_averages=True)
    for eg in examples[:4]:
        nlp.update([eg], sgd=optimizer)
    model = nlp.get_pipe("clinx_ner").model
    shim = model.layers[0].shims[0]
    tagger = get_tagger(model)
    averaged = {name: optimizer.averages[(shim.id, name)].copy() for name, _ in tagger.named_parameters()}
    assert averaged, "the optimizer keeps no average of the torch weights"
    before = raw_weights(nlp)
    raw_prediction = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe([examples[0].text])]
    with nlp.use_params(optimizer.averages):
        for name, param in tagger.named_parameters():
            assert numpy.allclose(param.detach().numpy(), averaged[name]), name
        assert any(not torch.equal(param, before[name]) for name, param in tagger.named_parameters())
        list(nlp.pipe([examples[0].text]))  # predicts with the averages
    after = raw_weights(nlp)
    assert all(torch.equal(before[k], after[k]) for k in before), "the raw weights were not restored"
    assert all(numpy.array_equal(optimizer.averages[(shim.id, k)], v) for k, v in averaged.items())
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe([examples[0].text])] == raw_prediction


def test_spacy_train_saves_the_averaged_weights(examples, encoders, tmp_path):
    """The same run with and without averages follows the same trajectory; only what is saved differs."""
    from spacy_clinx.workflow.resumable_train import train

    data = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples[:4]], store_user_data=True).to_disk(data)
    overrides = {"paths.train": str(data), "paths.dev": str(data), "paths.encoder": str(encoders["xlm-roberta"]),
                 "training.max_epochs": 2, "training.eval_frequency": 4, "training.batcher.size": 1,
                 "training.logger.progress_bar": False, "training.optimizer.learn_rate.initial_rate": 0.002,
                 **{f"components.clinx_ner.model.{k}": v for k, v in TINY_MODEL.items()}}
    out = io.StringIO()
    plain = train(CONFIG, tmp_path / "plain", overrides, stdout=out, stderr=out)
    averaged = train(CONFIG, tmp_path / "averaged", {**overrides, "training.optimizer.use_averages": True},
                     stdout=out, stderr=out)
    a, b = weights(plain), weights(averaged)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert differ, "use_averages = true saved the raw weights"
    assert spacy.load(averaged).get_pipe("clinx_ner").labels == spacy.load(plain).get_pipe("clinx_ner").labels
