"""clinx_ner end to end: learning with three subword schemes, long documents, saving, loading, evaluating."""
import json
import re
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from typer.testing import CliRunner

from pipelines import SENTENCE_WINDOWS, SOFTMAX_HEAD, make_nlp, train_until_perfect
from spacy_clinx.cli import app


def entities(docs):
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def test_xlm_roberta_style_encoder_learns_the_documents(trained, examples):
    # trained_dir asserts F1 1.0 while training; the reloaded pipeline predicts the gold exactly
    predicted = entities(trained.pipe(eg.reference.text for eg in examples))
    gold = [sorted((e.start_char, e.end_char, e.label_) for e in eg.reference.ents) for eg in examples]
    assert [sorted(p) for p in predicted] == gold


@pytest.mark.parametrize("architecture", ["bert", "longformer"])
def test_wordpiece_and_byte_level_bpe_encoders_learn_the_documents(architecture, encoders, examples):
    nlp = make_nlp(encoders[architecture])
    epochs, f1 = train_until_perfect(nlp, examples)
    assert f1 == 1.0, f"{architecture}: strict char F1 {f1} after {epochs} epochs"


def test_predictions_survive_reload_in_a_fresh_process(trained_dir, trained, examples):
    texts = [eg.reference.text for eg in examples]
    # The child process never imports spacy_clinx: entry points register everything.
    code = (
        "import json, sys, spacy\n"
        f"nlp = spacy.load({str(trained_dir)!r})\n"
        "texts = json.load(sys.stdin)\n"
        "out = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]\n"
        "print(json.dumps({'ents': out}))\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True,
                            text=True, env=env, check=True)
    child = json.loads(result.stdout)["ents"]
    assert child == [list(map(list, doc)) for doc in entities(trained.pipe(texts))]
    assert sum(map(len, child)) > 50


def test_pipe_with_two_processes_matches_one(trained, examples):
    texts = [eg.reference.text for eg in examples] * 2
    assert entities(trained.pipe(texts, n_process=2, batch_size=2)) == entities(trained.pipe(texts))


def test_long_document_is_tagged_completely(trained, examples):
    texts = [eg.reference.text for eg in examples]
    copies = []
    while sum(map(len, copies)) < 55_000:
        copies.extend(texts)
    text = "\n\n".join(copies)
    assert len(text) > 50_000
    doc = trained(text)
    assert doc.text == text
    for ent in doc.ents:
        assert 0 <= ent.start_char < ent.end_char <= len(text)
        assert ent.text == text[ent.start_char : ent.end_char]
    # entities are found up to the very end: nothing was truncated
    per_copy = sum(len(eg.reference.ents) for eg in examples) / len(examples)
    assert len(doc.ents) >= 0.9 * per_copy * len(copies)
    last_copy_start = len(text) - len(copies[-1])
    assert any(ent.start_char >= last_copy_start for ent in doc.ents)


def test_spacy_evaluate_prints_char_level_scores(trained_dir, examples, tmp_path):
    data = tmp_path / "gold.spacy"
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(data)
    out = tmp_path / "scores.json"
    result = subprocess.run([sys.executable, "-m", "spacy", "evaluate", str(trained_dir), str(data),
                             "--spans-key", "char", "--output", str(out)], capture_output=True, text=True, check=True)
    printed = dict(re.findall(r"^(SPAN [PRF]|NER F)\s+([\d.]+)\s*$", result.stdout, flags=re.M))
    assert printed == {"NER F": "100.00", "SPAN P": "100.00", "SPAN R": "100.00", "SPAN F": "100.00"}
    assert "SPANS (per type)" in result.stdout
    scores = json.loads(out.read_text())
    assert scores["spans_char_f"] == 1.0
    assert set(scores["spans_char_per_type"]) == {e.label_ for eg in examples for e in eg.reference.ents}


def test_spans_key_stores_entities_with_crf_confidence(trained_dir, examples):
    nlp = spacy.load(trained_dir, config={"components": {"clinx_ner": {"spans_key": "clinx"}}})
    doc = nlp(examples[0].reference.text)
    group = doc.spans["clinx"]
    assert [(s.start_char, s.end_char, s.label_) for s in group] == [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    scores = group.attrs["scores"]
    assert len(scores) == len(group) > 0
    assert all(0.0 < s <= 1.0 + 1e-6 for s in scores)
    assert sum(scores) / len(scores) > 0.5  # trained to F1 1.0 on this document: mostly confident


def test_a_package_built_for_int8_predicts_in_onnx_runtime_int8_and_requires_it(trained_dir, trained, examples, tmp_path):
    """The package step's default: the installed pipeline's clinx_ner runs ONNX Runtime int8 on CPU
    with the fixtures' entities unchanged, and the package depends on ONNX Runtime."""
    from spacy_clinx.workflow.package import build_and_check

    site = tmp_path / "site"
    text = examples[0].reference.text
    lines = []
    build_and_check(trained_dir, tmp_path / "packages", "clinx_int8", "0.0.1", text, target=site, echo=lines.append)
    assert "es_clinx_int8 0.0.1 (int8 on CPU)" in lines[0]
    meta = json.loads((tmp_path / "packages" / "es_clinx_int8-0.0.1" / "meta.json").read_text())
    assert {"onnx>=1.15", "onnxruntime>=1.17"} <= set(meta["requirements"])
    assert any(req.startswith("spacy-clinx") for req in meta["requirements"])  # spacy package found the factories
    assert not list((tmp_path / "packages").glob(".staging-*"))  # the int8 copy of the pipeline is gone
    code = ("import json, sys, spacy; nlp = spacy.load('es_clinx_int8'); ner = nlp.get_pipe('clinx_ner'); "
            "doc = nlp(sys.stdin.read()); print(json.dumps([ner.cpu_int8, "
            "[[e.start_char, e.end_char, e.label_] for e in doc.ents]]))")
    result = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    int8, ents = json.loads(result.stdout)
    assert int8 is True
    assert [tuple(e) for e in ents] == entities([trained(text)])[0]
    assert "cpu_int8 = false" in (trained_dir / "config.cfg").read_text()  # the pipeline packaged is left as it was


def test_an_encoder_that_cannot_run_in_onnx_runtime_is_refused_before_anything_is_built(encoders, examples, tmp_path):
    nlp = make_nlp(encoders["longformer"])
    nlp.initialize(lambda: examples[:2])
    nlp.to_disk(tmp_path / "longformer")
    result = CliRunner().invoke(app, ["package", str(tmp_path / "longformer"), str(tmp_path / "packages")])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)  # a clean exit, no traceback
    assert "cannot predict in int8" in result.output and "--cpu-inference float32" in result.output
    assert not list((tmp_path / "packages").glob("*"))


def test_packaging_for_int8_a_pipeline_without_clinx_ner_is_refused_in_one_line(tmp_path):
    nlp = spacy.blank("es")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "plain")
    result = CliRunner().invoke(app, ["package", str(tmp_path / "plain"), str(tmp_path / "packages")])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)  # a clean exit, no traceback
    assert "no clinx_ner component to run in int8" in result.output
    assert not list((tmp_path / "packages").glob("*"))


@pytest.mark.parametrize("setting", [SOFTMAX_HEAD, SENTENCE_WINDOWS, {"tag_units": "first_subword"}])
def test_ablations_learn_and_survive_reload(setting, encoders, examples, tmp_path):
    """The paper's ablations: "- CRF" (softmax head), "- context" (one sentence per window, no
    context) and "- subword" (word-level tagging on each token's first subword)."""
    from spacy_clinx.model.architecture import get_tagger

    nlp = make_nlp(encoders["xlm-roberta"], **setting)
    epochs, f1 = train_until_perfect(nlp, examples, max_epochs=100)
    assert f1 >= 0.9, f"{setting}: strict char F1 {f1} after {epochs} epochs"
    nlp.to_disk(tmp_path / "ablation")
    reloaded = spacy.load(tmp_path / "ablation")
    model = reloaded.get_pipe("clinx_ner").model
    if setting is SOFTMAX_HEAD:
        assert model.head.name == get_tagger(model).head == "softmax"
    elif setting is SENTENCE_WINDOWS:
        assert model.windows.needs_sentences and model.windows.longest == 32
    else:
        assert model.attrs["tag_units"] == "first_subword"
    texts = [eg.reference.text for eg in examples]
    assert entities(reloaded.pipe(texts)) == entities(nlp.pipe(texts))


@pytest.mark.parametrize("setting", [{"head": "softmax"}, {"windows": "sentence"}, {"tag_units": "first_subword"}])
def test_unknown_choices_of_the_first_architecture_are_named(setting, encoders):
    """v1 (pipelines saved by 0.1.0) names its head and windows by string; v2 registers them."""
    (key, value), = setting.items()
    config = {"@architectures": "spacy_clinx.SubwordCRFTagger.v1", "encoder": str(encoders["xlm-roberta"]),
              key: value}
    nlp = spacy.blank("es")
    nlp.add_pipe("clinx_ner", config={"model": config})  # the real choice builds
    with pytest.raises(ValueError, match="Unknown"):
        spacy.blank("es").add_pipe("clinx_ner", config={"model": {**config, key: "something-else"}})


def test_bf16_inference_option_keeps_the_predictions_close(trained_dir, examples):
    from spacy.training import Example

    from spacy_clinx.scoring import char_strict_prf

    nlp = spacy.load(trained_dir, config={"components.clinx_ner.cpu_bf16": True})
    assert nlp.get_pipe("clinx_ner").cpu_bf16 is True
    predicted = nlp.pipe(eg.reference.text for eg in examples)
    f1 = char_strict_prf([Example(p, eg.reference) for p, eg in zip(predicted, examples)])["spans_char_f"]
    assert f1 >= 0.95  # fp32 gets 1.0 on these documents


@pytest.mark.parametrize("architecture", ["xlm-roberta", "bert", "longformer"])
def test_bootstrapped_encoder_takes_its_tokenizers_max_length(encoders, examples, architecture):
    """RoBERTa-family position ids start after the padding id (3 in our vocabularies, not 1):
    an input of the tokenizer's model_max_length must still fit the position table."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoders[architecture])
    model = AutoModel.from_pretrained(encoders[architecture]).eval()
    text = " ".join(eg.reference.text for eg in examples)
    batch = tokenizer(text, truncation=True, return_tensors="pt")
    assert batch["input_ids"].shape[1] == tokenizer.model_max_length
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[1] == tokenizer.model_max_length


def test_releasing_freed_memory_keeps_the_predictions(trained_dir, examples):
    """``release_memory_growth_mb`` trims the heap between encoder batches and changes nothing else."""
    import platform

    from spacy_clinx.memory import release_freed_memory, resident_mb

    assert release_freed_memory() is (platform.libc_ver()[0] == "glibc")
    assert resident_mb() > 0
    texts = [eg.reference.text for eg in examples] * 3
    assert spacy.load(trained_dir).get_pipe("clinx_ner").release_memory_growth_mb == 256  # the default
    plain = spacy.load(trained_dir, config={"components.clinx_ner.release_memory_growth_mb": 0})
    releasing = spacy.load(trained_dir, config={"components.clinx_ner.release_memory_growth_mb": 1})
    assert entities(releasing.pipe(texts)) == entities(plain.pipe(texts))
    with pytest.raises(ValueError, match="release_memory_growth_mb"):
        spacy.load(trained_dir, config={"components.clinx_ner.release_memory_growth_mb": -1})


def test_memory_is_released_only_after_the_process_has_grown(monkeypatch):
    from spacy_clinx import memory

    sizes, released = iter([500, 700, 760, 600, 700, 900, 620]), []
    monkeypatch.setattr(memory, "resident_mb", lambda: next(sizes))
    monkeypatch.setattr(memory, "release_freed_memory", lambda: released.append(1) or True)
    check = memory.GrowthRelease(margin_mb=200)
    # 500: the floor; 700: +200, kept; 760: +260, released, then 600 is the new floor;
    # 700: +100, kept; 900: +300, released, then 620
    assert [check() for _ in range(5)] == [False, False, True, False, True]
    assert len(released) == check.releases == 2 and check.floor == 620
    assert memory.GrowthRelease(margin_mb=0)() is False
