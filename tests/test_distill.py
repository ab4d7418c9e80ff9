"""Distilling an ensemble into one clinx_ner: the teachers' marginals, the soft cross-entropy, a student that learns."""
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.tokens import DocBin
from spacy.training import Example

from pipelines import SUBPROCESS_ENV, blank_nlp, make_nlp
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
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ensemble", config={"members": [str(trained_dir), str(trained_dir)]})
    nlp.initialize()
    nlp.to_disk(tmp_path / "ensemble")
    teach(tmp_path / "ensemble", [taught / "train.spacy"], tmp_path / "teacher.spacy", progress=False)
    vocab = blank_nlp().vocab
    one = [d.user_data[TEACHER_KEY]["marginals"] for d in DocBin().from_disk(taught / "teacher.spacy").get_docs(vocab)]
    two = [d.user_data[TEACHER_KEY]["marginals"] for d in DocBin().from_disk(tmp_path / "teacher.spacy").get_docs(vocab)]
    assert all(numpy.array_equal(a, b) for a, b in zip(one, two))


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
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "teach", str(trained_dir), str(tmp_path / "no.spacy"),
                             "-o", str(tmp_path / "out.spacy")], capture_output=True, text=True, env=SUBPROCESS_ENV)
    assert result.returncode != 0 and "no such DocBin" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("out.spacy*"))


def test_a_distilled_pipeline_saves_and_loads_with_its_head_setting(encoders, examples, tmp_path):
    student = make_nlp(encoders["xlm-roberta"], **DISTIL)
    student.initialize(lambda: examples)
    student.to_disk(tmp_path / "student")
    reloaded = spacy.load(tmp_path / "student")
    assert reloaded.get_pipe("clinx_ner").model.head.teacher_weight == 1.0
    assert [e.text for e in reloaded(examples[0].reference.text).ents] == [e.text for e in student(examples[0].reference.text).ents]
