"""Cross-task transfer: the target starts from the source's encoder with a new head; low-resource
subsets are corpus-order prefixes; the similarity ranking is deterministic and puts an identical
model first."""
import json
import subprocess
import sys

import pytest
import spacy
import torch
from spacy.tokens import DocBin

from pipelines import SUBPROCESS_ENV, TINY_MODEL, make_nlp
from spacy_clinx.workflow.train_splits import override_args
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.transfer import export_encoder, find_tagger, first_sentences, rank_sources
from spacy_clinx.transfer.low_resource import n_sentences
from spacy_clinx.transfer.target import prepare_encoder
from spacy_clinx.transfer.similarity import advice, vocabulary_coverage, vocabulary_overlap

from test_resumable_train import CONFIG


def test_target_keeps_the_source_encoder_and_gets_a_new_head(trained, examples, tmp_path):
    source = find_tagger(trained)
    export_encoder(trained, tmp_path / "encoder")
    target = make_nlp(tmp_path / "encoder")
    target.get_pipe("clinx_ner").initialize(lambda: examples, labels=["PROFESION", "ACTIVIDAD"])
    tagger = get_tagger(target.get_pipe("clinx_ner").model)
    before = source.encoder.state_dict()
    after = tagger.encoder.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert tagger.tokenizer.get_vocab() == source.tokenizer.get_vocab()
    assert tagger.tag_names == ["O"] + [f"{p}-{label}" for label in ("ACTIVIDAD", "PROFESION") for p in "BIES"]
    assert tagger.emission.out_features == 9 != source.emission.out_features
    assert tagger.crf.num_tags == 9


def test_transfer_command_trains_from_the_source_encoder(trained_dir, examples, tmp_path):
    data = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(data)
    args = [sys.executable, "-m", "spacy_clinx", "transfer", str(trained_dir), str(CONFIG), "--output",
            str(tmp_path / "target"), "--paths.train", str(data), "--paths.dev", str(data),
            "--training.max_steps", "2", "--training.eval_frequency", "1", "--training.logger.progress_bar", "false",
            *override_args({f"components.clinx_ner.model.{k}": v for k, v in TINY_MODEL.items()})]
    subprocess.run(args, check=True, capture_output=True, env=SUBPROCESS_ENV)
    assert json.loads((tmp_path / "target" / "transfer.json").read_text())["source"] == str(trained_dir.resolve())
    config = spacy.load(tmp_path / "target" / "model-last").config
    assert config["paths"]["encoder"] == str(tmp_path / "target" / "source-encoder")


def test_first_sentences_is_a_corpus_order_prefix(examples):
    docs = [eg.reference for eg in examples]
    counts = [n_sentences(d) for d in docs]
    n = counts[0] + counts[1] // 2
    subset = list(first_sentences(docs, n))
    assert len(subset) == 2 and subset[0].text == docs[0].text
    assert sum(n_sentences(d) for d in subset) == n
    cut = subset[1]
    assert docs[1].text.startswith(cut.text) and len(cut.text) < len(docs[1].text)
    kept = [(e.start_char, e.end_char, e.label_) for e in docs[1].ents if e.end_char <= len(cut.text)]
    assert [(e.start_char, e.end_char, e.label_) for e in cut.ents] == kept and kept
    assert [d.text for d in first_sentences(docs, sum(counts) + 100)] == [d.text for d in docs]
    with pytest.raises(ValueError):
        list(first_sentences(docs, 0))


def test_an_identical_model_ranks_first_and_the_ranking_is_deterministic(trained_dir, encoders, examples):
    texts = [eg.reference.text for eg in examples]
    sources = {"untrained-bert": str(encoders["bert"]), "same": str(trained_dir),
               "untrained-xlmr": str(encoders["xlm-roberta"])}
    first = rank_sources(str(trained_dir), texts, sources, {"same": texts}, max_words=1500)
    assert [r["source"] for r in first][0] == "same"
    assert first[0]["model_similarity"] > 0.99 > first[1]["model_similarity"]
    assert first[0]["vocabulary_overlap"] == first[0]["vocabulary_coverage"] == 1.0
    assert rank_sources(str(trained_dir), texts, sources, {"same": texts}, max_words=1500) == first


def test_the_no_transfer_reference_is_ranked_and_can_advise_against_transfer(trained_dir, encoders, examples,
                                                                            tmp_path):
    texts = [eg.reference.text for eg in examples]
    # the target model's own starting point closer than any source: no transfer
    rows = rank_sources(str(trained_dir), texts, {"untrained-bert": str(encoders["bert"])}, max_words=1500,
                        no_transfer=str(trained_dir))
    assert [r["source"] for r in rows] == ["none", "untrained-bert"] and rows[0]["no_transfer"]
    assert advice(rows).startswith("no transfer")
    # a source closer than the reference: transfer from it
    rows = rank_sources(str(trained_dir), texts, {"same": str(trained_dir)}, max_words=1500,
                        no_transfer=str(encoders["xlm-roberta"]))
    assert [r["source"] for r in rows] == ["same", "none"] and "no_transfer" not in rows[0]
    assert advice(rows).startswith("transfer from same (closer")
    with pytest.raises(ValueError, match="no-transfer reference"):
        rank_sources(str(trained_dir), texts, {"none": str(trained_dir)}, no_transfer=str(trained_dir))
    # the command prints the ranking and the advice, and writes both rows to JSON
    data = tmp_path / "texts.spacy"
    DocBin(docs=[eg.reference for eg in examples]).to_disk(data)
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "rank-sources", str(trained_dir), str(data),
                             f"bert={encoders['bert']}", "--no-transfer", str(trained_dir), "--max-words", "500",
                             "--output", str(tmp_path / "ranking.json")],
                            capture_output=True, text=True, env=SUBPROCESS_ENV)
    assert result.returncode == 0, result.stderr
    assert "| 1 | none (no-transfer reference) |" in result.stdout and "Predicted: no transfer" in result.stdout
    assert [r["source"] for r in json.loads((tmp_path / "ranking.json").read_text())] == ["none", "bert"]


def test_vocabulary_overlap():
    assert vocabulary_overlap(["a b c"], ["A b d"]) == pytest.approx(2 / 4)
    assert vocabulary_overlap([""], [""]) == 0.0


def test_vocabulary_coverage_counts_running_words_and_ignores_what_only_the_source_knows():
    # 3 of the target's 4 running words are known; a larger source vocabulary changes nothing
    assert vocabulary_coverage(["a a B c"], ["a b"]) == pytest.approx(3 / 4)
    assert vocabulary_coverage(["a a B c"], ["a b x y z w"]) == pytest.approx(3 / 4)
    assert vocabulary_overlap(["a a B c"], ["a b x y z w"]) < vocabulary_overlap(["a a B c"], ["a b"])
    assert vocabulary_coverage([""], ["a"]) == 0.0


def test_a_new_source_starts_the_run_over_and_an_encoder_folder_is_used_as_it_is(trained_dir, encoders, tmp_path):
    run = tmp_path / "run"
    assert prepare_encoder(encoders["bert"], run) == encoders["bert"]
    (run / "checkpoint").mkdir()
    assert prepare_encoder(trained_dir, run, echo=lambda _: None) == run / "source-encoder"
    assert (run / "source-encoder" / "config.json").exists() and not (run / "checkpoint").exists()
    with pytest.raises(ValueError, match="neither a trained pipeline"):
        prepare_encoder(tmp_path, tmp_path / "other")


def test_a_transfer_with_a_profile_counts_its_min_epochs_over_the_target_training_set(encoders, examples, tmp_path):
    """The profile's budget of updates is lifted to its min_epochs over --paths.train; without that
    path there is nothing to count, and the command line says what to give."""
    from spacy_clinx.transfer.target import transfer_overrides

    data = tmp_path / "train.spacy"
    DocBin(docs=[eg.reference for eg in examples] * 4, store_user_data=True).to_disk(data)
    budget = {"batch_size": 1, "max_epochs": 0, "max_steps": 5, "min_epochs": 3, "learn_rate": 5e-4,
              "warmup": 0.1, "eval_frequency": 2}
    overrides = transfer_overrides(encoders["bert"], tmp_path / "t", {"paths.train": str(data)}, budget)
    assert overrides["training.max_steps"] == 3 * 4 * len(examples)
    with pytest.raises(ValueError, match="min_epochs, counted over the training set: give --paths.train"):
        transfer_overrides(encoders["bert"], tmp_path / "t", {}, budget)
