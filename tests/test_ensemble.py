"""clinx_ensemble: majority vote over member pipelines, checks on members, saving with members inside."""
import json
import shutil
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.cli.evaluate import evaluate
from spacy.tokens import DocBin

from pipelines import blank_nlp, make_nlp
from spacy_clinx.components.clinx_ensemble import EnsembleError
from spacy_clinx.components.majority_vote import majority_vote
from spacy_clinx.workflow.report import evaluate_ensemble_and_members


def entities(docs):
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def test_outside_wins_with_half_the_votes_else_the_most_frequent_entity_tag():
    members = [numpy.array(t) for t in ([0, 1, 2, 0, 3], [0, 1, 3, 1, 4], [1, 0, 3, 0, 4], [2, 2, 0, 0, 3], [1, 0, 0, 0, 0])]
    voted, agreement = majority_vote(members, n_tags=5)
    # O has 2 of 5 votes in the first three positions: not enough (needs 3)
    assert voted.tolist() == [1, 1, 3, 0, 3]  # last: 3 and 4 tie with 2 votes; member 0 voted 3
    assert agreement.tolist() == pytest.approx([0.4, 0.4, 0.4, 0.8, 0.4])
    # with two members one O vote is half: O wins
    assert majority_vote([numpy.array([0]), numpy.array([2])], n_tags=3)[0].tolist() == [0]


@pytest.fixture(scope="module")
def untrained_dir(encoders, examples, tmp_path_factory):
    """Same encoder and labels as ``trained_dir``, but never trained: its votes are noise."""
    nlp = make_nlp(encoders["xlm-roberta"])
    nlp.initialize(lambda: examples)
    path = tmp_path_factory.mktemp("pipelines") / "untrained"
    nlp.to_disk(path)
    return path


def ensemble_nlp(members, **config):
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ensemble", config={"members": [str(m) for m in members], **config})
    nlp.initialize()
    return nlp


def test_two_trained_members_outvote_an_untrained_one(trained, trained_dir, untrained_dir, examples):
    texts = [eg.reference.text for eg in examples]
    nlp = ensemble_nlp([untrained_dir, trained_dir, trained_dir], member_spans_prefix="member")
    docs = list(nlp.pipe(texts))
    assert entities(docs) == entities(trained.pipe(texts))
    assert sum(map(len, entities(docs))) > 50
    # each member's own entities are kept for inspection
    for doc, expected in zip(docs, entities(trained.pipe(texts))):
        assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["member1"]] == expected
        assert set(doc.spans) == {"member0", "member1", "member2"}


def test_members_with_other_labels_or_tokenizer_are_refused(trained_dir, encoders, examples, tmp_path):
    other_labels = make_nlp(encoders["xlm-roberta"])
    other_labels.get_pipe("clinx_ner").initialize(lambda: examples, labels=["FECHAS"])
    other_labels.to_disk(tmp_path / "labels")
    with pytest.raises(EnsembleError, match="labels/tagging scheme"):
        ensemble_nlp([trained_dir, tmp_path / "labels"])
    other_tokenizer = make_nlp(encoders["bert"])
    other_tokenizer.initialize(lambda: examples)
    other_tokenizer.to_disk(tmp_path / "bert")
    with pytest.raises(EnsembleError, match="different subword tokenizer"):
        ensemble_nlp([trained_dir, tmp_path / "bert"])
    with pytest.raises(EnsembleError, match="Cannot load ensemble member"):
        ensemble_nlp([trained_dir, tmp_path / "missing"])
    with pytest.raises(EnsembleError, match="no members"):
        ensemble_nlp([])


def test_saved_ensemble_carries_its_members(trained, trained_dir, untrained_dir, examples, tmp_path):
    members = [shutil.copytree(d, tmp_path / f"m{i}") for i, d in enumerate([trained_dir, untrained_dir, trained_dir])]
    ensemble_nlp(members).to_disk(tmp_path / "ensemble")
    for member in members:
        shutil.rmtree(member)  # the saved ensemble must not need the original paths
    texts = [eg.reference.text for eg in examples]
    code = ("import json, sys, spacy\n"
            f"nlp = spacy.load({str(tmp_path / 'ensemble')!r})\n"
            "out = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(json.load(sys.stdin))]\n"
            "print(json.dumps(out))\n")
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                            env=env, check=True)
    assert json.loads(result.stdout) == [list(map(list, d)) for d in entities(trained.pipe(texts))]
    assert spacy.load(tmp_path / "ensemble").get_pipe("clinx_ensemble").labels == trained.get_pipe("clinx_ner").labels


def test_one_ensemble_pass_scores_each_member_as_spacy_evaluate_does(trained_dir, untrained_dir, examples, tmp_path):
    data = tmp_path / "test.spacy"
    DocBin(docs=[eg.reference for eg in examples], store_user_data=True).to_disk(data)
    ensemble_nlp([untrained_dir, trained_dir]).to_disk(tmp_path / "ensemble")
    results = evaluate_ensemble_and_members(tmp_path / "ensemble", ["untrained", "trained"], data, echo=lambda _: None)
    for name, member in (("untrained", untrained_dir), ("trained", trained_dir)):
        alone = evaluate(str(member), data, silent=True)
        for key in ("spans_char_p", "spans_char_r", "spans_char_f", "ents_p", "ents_r", "ents_f"):
            assert results[name][key] == alone[key], (name, key)
    assert results["trained"]["spans_char_f"] == 1.0 > results["untrained"]["spans_char_f"]
    assert results["ensemble"]["speed"] > 0 and "speed" not in results["trained"]
    with pytest.raises(ValueError, match="has 2 members, not 3"):
        evaluate_ensemble_and_members(tmp_path / "ensemble", ["a", "b", "c"], data)


def test_a_pipeline_without_one_clinx_ner_is_named_with_its_components():
    import spacy

    from spacy_clinx.components.clinx_ner import find_clinx_component

    nlp = spacy.blank("es")
    nlp.add_pipe("sentencizer")
    with pytest.raises(ValueError, match=r"exactly one clinx_ner component; it has 0 \(sentencizer\)"):
        find_clinx_component(nlp)


def test_a_retrained_member_changes_members_json_and_the_ensembles_meta_so_later_steps_rerun(
        trained_dir, untrained_dir, tmp_path):
    """spaCy's project reruns a step when a dependency's content changes: members.json and the
    ensemble's meta.json must change when a fold model is retrained under the same path (a changed
    profile retrains every fold model), or the ensemble, its scores and the distilled model stay stale."""
    from spacy_clinx.workflow.ensemble import build_ensemble
    from spacy_clinx.workflow.train_splits import read_members, write_members

    members = [shutil.copytree(d, tmp_path / f"split{i}" / "model-best") for i, d in enumerate([trained_dir, trained_dir])]
    write_members(tmp_path, members)
    before = (tmp_path / "members.json").read_text()
    build_ensemble(tmp_path, tmp_path / "ensemble")
    meta_before = (tmp_path / "ensemble" / "meta.json").read_text()
    shutil.rmtree(members[1])
    shutil.copytree(untrained_dir, members[1])  # split1 retrained: other weights, same path
    write_members(tmp_path, members)
    assert read_members(tmp_path) == [str(m) for m in members] and (tmp_path / "members.json").read_text() != before
    build_ensemble(tmp_path, tmp_path / "ensemble")
    assert (tmp_path / "ensemble" / "meta.json").read_text() != meta_before
    (tmp_path / "members.json").write_text(json.dumps([str(m) for m in members]))  # written before fingerprints
    assert read_members(tmp_path) == [str(m) for m in members]

