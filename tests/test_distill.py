"""Distilling an ensemble into one clinx_ner: the teachers' marginals, the soft cross-entropy, a student that learns."""
import json
import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from spacy.training import Example

from typer.testing import CliRunner

from pipelines import blank_nlp, make_nlp
from spacy_clinx.cli import app
from spacy_clinx.model.architecture import get_tagger
from spacy_clinx.model.layers.crf import ConstrainedCRF
from spacy_clinx.model.layers.heads import TEACHER_KEY
from spacy_clinx.scoring import char_strict_prf
from spacy_clinx.workflow.teach import teach

TAGS = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
DISTIL = {"head": {"@misc": "spacy_clinx.crf_head.v2", "teacher_weight": 1.0}}


def random_case(seed=0):
    torch.manual_seed(seed)
    crf = ConstrainedCRF(TAGS)
    emissions = torch.randn(3, 7, len(TAGS), dtype=torch.float64).float().requires_grad_()
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 2:] = False
    targets = torch.softmax(torch.randn(3, 7, len(TAGS)), -1) * mask.unsqueeze(-1)
    return crf, emissions, mask, targets


def test_the_soft_cross_entropy_moves_the_emissions_by_the_crf_marginals_minus_the_targets():
    crf, emissions, mask, targets = random_case()
    crf.soft_cross_entropy(emissions, targets, mask).backward()
    expected = crf.marginals(emissions.detach(), mask) - targets
    assert torch.allclose(emissions.grad, expected, atol=1e-5)
    assert all(p.grad is None for p in crf.parameters())  # the transitions learn from the gold tags alone


def test_with_the_gold_path_as_target_the_soft_cross_entropy_moves_the_emissions_as_the_nll_does():
    crf, emissions, mask, _ = random_case(1)
    gold = crf.viterbi(emissions.detach(), mask).clamp(min=0)
    one_hot = torch.nn.functional.one_hot(gold, len(TAGS)).float() * mask.unsqueeze(-1)
    soft_grad = torch.autograd.grad(crf.soft_cross_entropy(emissions, one_hot, mask), emissions)[0]
    nll_grad = torch.autograd.grad(crf.nll(emissions, gold, mask), emissions)[0]
    assert torch.allclose(soft_grad, nll_grad, atol=1e-5)


def test_rows_whose_scores_underflow_get_their_cross_entropy_in_log_space():
    crf, emissions, mask, targets = random_case(2)
    far = (emissions.detach() * 1e3).requires_grad_()  # scores ~1,000 apart: float64 probabilities underflow
    loss = crf.soft_cross_entropy(far, targets, mask)
    start, trans, end = (t.detach() for t in crf.scores())
    log_z = torch.logsumexp(crf._log_alphas(far.detach(), mask, (start, trans, end))[-1] + end, dim=1)
    expected = (log_z - (targets * far.detach()).sum(-1).masked_fill(~mask, 0).sum(1)).sum()
    assert torch.isfinite(loss) and torch.allclose(loss.detach(), expected, rtol=1e-5)
    loss.backward()
    assert torch.isfinite(far.grad).all()


def test_a_cut_moves_a_teachers_mass_to_tags_a_sequence_may_start_and_end_with():
    from spacy_clinx.tagging import boundary_maps, clip_distributions

    first, last = boundary_maps(TAGS)
    probs = numpy.zeros((3, len(TAGS)), dtype=numpy.float32)
    probs[0, TAGS.index("I-X")], probs[0, TAGS.index("O")] = 0.75, 0.25
    probs[1, TAGS.index("I-X")] = 1.0
    probs[2, TAGS.index("B-Y")], probs[2, TAGS.index("E-X")] = 0.5, 0.5
    clipped = clip_distributions(probs, first, last)
    assert clipped[0, TAGS.index("B-X")] == 0.75 and clipped[0, TAGS.index("O")] == 0.25
    assert clipped[1, TAGS.index("I-X")] == 1.0  # inside: as it was
    assert clipped[2, TAGS.index("S-Y")] == 0.5 and clipped[2, TAGS.index("E-X")] == 0.5
    alone = clip_distributions(probs[1:2], first, last)
    assert alone[0, TAGS.index("S-X")] == 1.0  # I-X alone is S-X, as clip_tags makes it
    assert numpy.allclose(clipped.sum(-1), probs.sum(-1))


def test_teacher_weight_must_be_a_share():
    from spacy_clinx.model.layers.heads import create_crf_head_v2

    with pytest.raises(ValueError, match="teacher_weight must be between 0 and 1"):
        create_crf_head_v2(1.5)


@pytest.fixture(scope="module")
def taught(trained_dir, examples, tmp_path_factory):
    """The fixtures with the marginals of the pipeline trained on them (one teacher)."""
    root = tmp_path_factory.mktemp("teach")
    DocBin(store_user_data=True, docs=[eg.reference for eg in examples]).to_disk(root / "train.spacy")
    assert teach(trained_dir, [root / "train.spacy"], root / "teacher.spacy", progress=False) == len(examples)
    return root


def test_teach_gives_every_document_a_distribution_over_the_teachers_tags_per_subword(taught, trained):
    docs = list(DocBin().from_disk(taught / "teacher.spacy").get_docs(blank_nlp().vocab))
    ner = trained.get_pipe("clinx_ner")
    tag_names = get_tagger(ner.model).tag_names
    subwords = ner.subwords([d.text for d in docs], [trained.make_doc(d.text) for d in docs])
    for doc, sub in zip(docs, subwords):
        teacher = doc.user_data[TEACHER_KEY]
        assert list(teacher["tags"]) == list(tag_names) and "doc_id" in doc.user_data
        marginals = teacher["marginals"].astype(numpy.float32)
        assert marginals.shape == (len(sub.tagged), len(tag_names))
        assert numpy.allclose(marginals.sum(-1), 1.0, atol=2e-2)
        tags, _ = ner.decode([sub], ner.emissions([sub]))
        assert (marginals.argmax(-1) == tags[0]).mean() > 0.99  # the teacher is sure of what it tags


def test_an_ensembles_marginals_are_its_members_mean(trained_dir, taught, tmp_path):
    other = spacy.load(trained_dir)  # a second member: the same weights, its emissions halved
    with torch.no_grad():
        get_tagger(other.get_pipe("clinx_ner").model).emission.weight.mul_(0.5)
    other.to_disk(tmp_path / "other")
    teach(tmp_path / "other", [taught / "train.spacy"], tmp_path / "other.spacy", progress=False)
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ensemble", config={"members": [str(trained_dir), str(tmp_path / "other")]})
    nlp.initialize()
    nlp.to_disk(tmp_path / "ensemble")
    teach(tmp_path / "ensemble", [taught / "train.spacy"], tmp_path / "teacher.spacy", progress=False)
    vocab = blank_nlp().vocab

    def marginals(path):
        return [d.user_data[TEACHER_KEY]["marginals"].astype(numpy.float32) for d in DocBin().from_disk(path).get_docs(vocab)]

    one, two, both = marginals(taught / "teacher.spacy"), marginals(tmp_path / "other.spacy"), marginals(tmp_path / "teacher.spacy")
    assert not all(numpy.allclose(a, b, atol=1e-2) for a, b in zip(one, two))  # the members differ
    assert all(numpy.allclose(m, (a + b) / 2, atol=2e-3) for m, a, b in zip(both, one, two))


def test_a_student_learns_the_entities_from_the_teachers_marginals_alone(taught, encoders, examples):
    """teacher_weight 1: the gold entities are removed from the training documents, and the student
    still learns them, from the marginals of the teacher that was trained on them."""
    student = make_nlp(encoders["xlm-roberta"], **DISTIL)
    optimizer = student.initialize(lambda: examples)  # the labels
    optimizer.learn_rate = 2e-3
    docs = list(DocBin().from_disk(taught / "teacher.spacy").get_docs(student.vocab))
    for doc in docs:
        doc.ents = []
    unlabelled = [Example(student.make_doc(d.text), d) for d in docs]
    ner = student.get_pipe("clinx_ner")
    tag_names = get_tagger(ner.model).tag_names
    cannot_start = [i for i, t in enumerate(tag_names) if t[:2] in ("I-", "E-")]
    cannot_end = [i for i, t in enumerate(tag_names) if t[:2] in ("B-", "I-")]
    batches = ner.gold_batches(unlabelled)
    assert sum(len(b.tags) for b in batches) > len(docs)  # the documents are cut into several segments
    for batch in batches:
        ends = batch.segment_mask.sum(1) - 1
        assert not batch.teacher[:, 0, cannot_start].any()
        assert not batch.teacher[numpy.arange(len(ends)), ends][:, cannot_end].any()
    f1 = 0.0
    for epoch in range(1, 121):
        student.update(unlabelled, sgd=optimizer)
        if epoch % 10 == 0:
            predicted = student.pipe(eg.reference.text for eg in examples)
            f1 = char_strict_prf([Example(p, eg.reference) for p, eg in zip(predicted, examples)])["spans_char_f"]
            if f1 >= 0.95:
                break
    assert f1 >= 0.95, f"strict char F1 {f1} against the gold the student never saw"


def test_distilling_without_teacher_marginals_or_with_another_tokenizers_says_so(taught, encoders, examples):
    student = make_nlp(encoders["bert"], **DISTIL)
    student.initialize(lambda: examples)
    with pytest.raises(ValueError, match="carries no teacher marginals; distilling needs training documents made by"):
        student.update(examples[:1])
    docs = list(DocBin().from_disk(taught / "teacher.spacy").get_docs(student.vocab))
    with pytest.raises(ValueError, match="teacher marginals for .* positions, the model tags .*another tokenizer"):
        student.update([Example(student.make_doc(docs[0].text), docs[0])])


def test_the_teach_command_refuses_a_missing_input_in_one_line_and_writes_nothing(trained_dir, tmp_path):
    result = CliRunner().invoke(app, ["teach", str(trained_dir), str(tmp_path / "no.spacy"), "-o", str(tmp_path / "out.spacy")])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit) and "no such DocBin" in result.output
    assert not list(tmp_path.glob("out.spacy*"))


def test_a_distilled_pipeline_saves_and_loads_with_its_head_setting(encoders, examples, tmp_path):
    student = make_nlp(encoders["xlm-roberta"], **DISTIL)
    student.initialize(lambda: examples)
    student.to_disk(tmp_path / "student")
    reloaded = spacy.load(tmp_path / "student")
    assert reloaded.get_pipe("clinx_ner").model.head.teacher_weight == 1.0
    assert [e.text for e in reloaded(examples[0].reference.text).ents] == [e.text for e in student(examples[0].reference.text).ents]


def test_a_student_initialised_from_a_trained_pipeline_starts_with_its_weights_and_its_own_head(
        trained_dir, trained, encoders, examples, tmp_path):
    import shutil

    from spacy.util import load_model_from_config

    from spacy_clinx.model.weights_from import create_weights_from_pipeline
    from spacy_clinx.workflow.train_splits import override_args

    giver = tmp_path / "giver"
    shutil.copytree(trained_dir, giver)
    config = make_nlp(encoders["xlm-roberta"], **DISTIL).config
    config["nlp"]["tokenizer"] = {"@tokenizers": "spacy_clinx.CharClassTokenizer.v1"}  # make_nlp sets it in code
    # as the distill step passes it: a command-line override of spacy train
    args = override_args({"initialize.after_init": {"@callbacks": "spacy_clinx.weights_from_pipeline.v1",
                                                    "path": str(giver)}})
    overrides = spacy.cli._util.parse_config_overrides(args)
    student = load_model_from_config(spacy.util.load_config_from_str(config.to_str(), overrides=overrides),
                                     auto_fill=True)
    text = examples[0].reference.text
    student.initialize(lambda: examples)
    assert [(e.start_char, e.end_char, e.label_) for e in student(text).ents] == \
        [(e.start_char, e.end_char, e.label_) for e in trained(text).ents] != []
    assert student.get_pipe("clinx_ner").model.head.teacher_weight == 1.0  # the config's head, not the giver's
    student.to_disk(tmp_path / "student")
    shutil.rmtree(giver)  # the saved student names the giver in its [initialize], which loading does not run
    assert [e.text for e in spacy.load(tmp_path / "student")(text).ents] == [e.text for e in trained(text).ents]
    cold = make_nlp(encoders["xlm-roberta"], **DISTIL)
    cold.initialize(lambda: examples)
    assert [e.text for e in cold(text).ents] != [e.text for e in trained(text).ents]  # untrained: it is the copy
    other = make_nlp(encoders["bert"])
    other.initialize(lambda: examples)
    with pytest.raises(ValueError, match="another tokenizer"):
        create_weights_from_pipeline(str(trained_dir))(other)
    wider = make_nlp(encoders["xlm-roberta"], token_features={"@misc": "spacy_clinx.TokenFeatures.v2", "attrs": ["NORM"], "rows": [500],
                                                               "width": 16, "output_width": 16})
    wider.initialize(lambda: examples)
    with pytest.raises(ValueError, match="is not the one being trained"):
        create_weights_from_pipeline(str(trained_dir))(wider)
    with pytest.raises(FileNotFoundError, match="no trained pipeline"):
        create_weights_from_pipeline(str(trained_dir / "missing"))(other)


def test_the_distill_command_leaves_a_one_model_split_scheme_as_it_is_and_wants_test_and_metrics_together(tmp_path):
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "splits.json").write_text('{"scheme": "standard"}')
    args = ["distill", "config.cfg", str(tmp_path / "ensemble"), str(tmp_path / "splits"), str(tmp_path / "data"),
            str(tmp_path / "out"), "--encoder", "enc"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "nothing to distil: the 'standard' split scheme trains one model" in result.output
    assert not (tmp_path / "data").exists() and [p.name for p in (tmp_path / "out").iterdir()] == ["distilled.json"]
    record = json.loads((tmp_path / "out" / "distilled.json").read_text())  # what the package step depends on
    assert record == {"scheme": "standard", "student": None, "trained": None}
    result = CliRunner().invoke(app, [*args, "--test", str(tmp_path / "splits" / "splits.json")])
    assert result.exit_code != 0 and "--test and --metrics go together" in result.output
    (tmp_path / "splits" / "splits.json").write_text('{"scheme": "random"}')
    result = CliRunner().invoke(app, [*args, "--test", str(tmp_path / "no.spacy"), "--metrics", str(tmp_path / "m.json")])
    assert result.exit_code != 0 and "no.spacy: no such DocBin" in result.output
    (tmp_path / "splits" / "splits.json").write_text('{"parts": 5}')
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "splits.json: not a splits file of the splits step" in result.output
    (tmp_path / "splits" / "splits.json").unlink()
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "no splits.json; run the splits step first" in result.output


def test_distill_checks_its_config_and_the_members_labels_before_teaching(trained_dir, tmp_path, monkeypatch):
    """Teaching takes minutes to hours: a missing config or an ensemble of other labels is a one-line
    error first, whether or not the student starts from a member's weights."""
    from spacy_clinx.workflow import distill as distilling

    nlp = blank_nlp()
    nlp.add_pipe("clinx_ensemble", config={"members": [str(trained_dir), str(trained_dir)]})
    nlp.initialize()
    nlp.to_disk(tmp_path / "ensemble")
    splits = tmp_path / "splits"
    (splits / "split0").mkdir(parents=True)
    (splits / "splits.json").write_text('{"scheme": "random"}')
    DocBin(docs=[blank_nlp()("Paciente de 45 años.")]).to_disk(splits / "split0" / "dev.spacy")
    (splits / "labels.json").write_text('["OTHER"]')
    monkeypatch.setattr(distilling, "teach", lambda *a, **k: pytest.fail("taught before the checks"))
    args = (tmp_path / "ensemble", splits, tmp_path / "data", tmp_path / "out", "enc", {"warm_start": False}, 0.5)
    with pytest.raises(FileNotFoundError, match="no.cfg: no such training config"):
        distilling.distill(tmp_path / "no.cfg", *args)
    (tmp_path / "x.cfg").write_text("[nlp]\n")
    with pytest.raises(ValueError, match=r"its labels \[.*\] are not the splits' \['OTHER'\]"):
        distilling.distill(tmp_path / "x.cfg", *args)
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_teach_refuses_inputs_without_documents(trained_dir, tmp_path):
    DocBin().to_disk(tmp_path / "empty.spacy")
    with pytest.raises(ValueError, match="no documents to teach in .*empty.spacy"):
        teach(trained_dir, [tmp_path / "empty.spacy"], tmp_path / "out.spacy", progress=False)
    assert not (tmp_path / "out.spacy").exists()
