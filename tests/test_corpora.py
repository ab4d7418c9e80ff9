import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_clinx.corpora import ConversionReport, brat_dir_to_docs
from spacy_clinx.tokenizer import create_char_class_tokenizer

from conftest import MEDDOCAN as MEDDOCAN_TRAIN

MEDDOCAN_ROOT = MEDDOCAN_TRAIN.parent


@pytest.fixture
def nlp():
    nlp = spacy.blank("es")
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    return nlp


def write(path, name, text, ann=None):
    (path / f"{name}.txt").write_text(text, encoding="utf8")
    if ann is not None:
        (path / f"{name}.ann").write_text(ann, encoding="utf8")


def test_tokenizer_splits_letters_digits_and_symbols(nlp):
    words = [t.text for t in nlp("NºCol: 28 28 70973. CP:28016.Madrid 5-7mm")]
    assert words == ["NºCol", ":", "28", "28", "70973", ".", "CP", ":", "28016", ".", "Madrid", "5", "-", "7", "mm"]


def test_fixtures_convert_with_all_entities_on_tokens(nlp, meddocan_dir):
    report = ConversionReport()
    docs = list(brat_dir_to_docs(nlp, [meddocan_dir], report))
    assert report.documents == len(docs) == 4
    assert report.entities == report.aligned == report.in_ents > 50
    for doc in docs:
        assert any(True for _ in doc.sents)
        for ent in doc.ents:
            assert ent.text == doc.text[ent.start_char : ent.end_char]


def test_entity_starting_inside_a_word_splits_the_token(nlp, tmp_path):
    text = "Firmado por: DR.Francisco Javier Candel. Servicio"
    start = text.index("rancisco")
    end = text.index(". Servicio")
    write(tmp_path, "d", text, f"T1\tNOMBRE {start} {end}\t{text[start:end]}\n")
    report = ConversionReport()
    (doc,) = brat_dir_to_docs(nlp, [tmp_path], report)
    assert report.aligned == report.entities == 1
    assert [(e.text, e.label_) for e in doc.ents] == [("rancisco Javier Candel", "NOMBRE")]
    assert doc.text == text


def test_defects_are_reported_with_file_line_and_id(nlp, tmp_path):
    text = "Paciente Juan Pérez, 70 años, ingresa el 12/12/2016.\n"
    ann = "\n".join([
        "T1\tNOMBRE 9 19\tJuan Pérez",
        "T2\tEDAD 21 28\t70 años",
        "T3\tFECHA 30 40\t12/12/2016",  # offsets that do not fit
        "T4\tNOMBRE 9 13;14 19\tJuan Pérez",  # discontinuous
        "T5\tNOMBRE 9 13\tJuan",  # nested in T1
        "R1\tRel Arg1:T1 Arg2:T2",
        "#1\tAnnotatorNotes T1\tnote",
        "T6\tFECHA 41 500\tx",  # beyond the text
        "garbage line",
    ]) + "\n"
    write(tmp_path, "a", text, ann)
    write(tmp_path, "b", "sin anotaciones")  # .txt without .ann
    (tmp_path / "c.ann").write_text("T1\tX 0 1\ta\n", encoding="utf8")  # .ann without .txt
    report = ConversionReport()
    docs = list(brat_dir_to_docs(nlp, [tmp_path], report))
    kinds = {(p.kind, p.ann_id, p.line) for p in report.problems}
    assert ("offset_mismatch", "T3", 3) in kinds
    assert ("discontinuous", "T4", 4) in kinds
    assert ("overlap", "T5", 5) in kinds
    assert ("out_of_range", "T6", 8) in kinds
    assert ("malformed", "garbage line", 9) in kinds
    assert {("ignored", "R1", 6), ("ignored", "#1", 7)} <= kinds
    assert {p.kind for p in report.problems if p.ann_id is None} == {"missing_ann", "missing_txt"}
    assert all(str(tmp_path) in str(p) for p in report.problems)
    doc_a = docs[0]
    assert [(e.text, e.label_) for e in doc_a.ents] == [("Juan Pérez", "NOMBRE"), ("70 años", "EDAD")]
    assert len(doc_a.spans["brat"]) == 3  # the nested T5 is kept there


def test_non_utf8_text_names_file_and_offset_and_the_rest_is_read(nlp, tmp_path):
    (tmp_path / "x.txt").write_bytes("año".encode("latin1"))
    (tmp_path / "x.ann").write_text("T1\tX 0 1\ta\n", encoding="utf8")
    write(tmp_path, "y", "Juan", "T1\tNOMBRE 0 4\tJuan\n")
    report = ConversionReport()
    docs = list(brat_dir_to_docs(nlp, [tmp_path], report))
    assert [d.text for d in docs] == ["Juan"] and report.skipped_documents == 1
    (problem,) = report.problems
    assert problem.kind == "unreadable" and "x.txt: not valid UTF-8 at byte offset 1" in problem.message
    assert "and 1 unreadable, skipped" in report.summary()


def test_duplicate_texts_are_reported_and_kept(nlp, tmp_path):
    # NCBI-disease train holds PMID 8528200 twice (8528200.txt and 8528200.1.txt)
    write(tmp_path, "8528200", "Same abstract.", "")
    write(tmp_path, "8528200.1", "Same abstract.", "")
    report = ConversionReport()
    assert len(list(brat_dir_to_docs(nlp, [tmp_path], report))) == 2
    (problem,) = report.problems
    assert problem.kind == "duplicate_text" and problem.path.endswith("8528200.txt")
    assert problem.message.startswith("same text as") and "8528200.1.txt" in problem.message


def test_convert_command_prints_alignment(meddocan_dir, tmp_path):
    out = tmp_path / "train.spacy"
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "convert", str(meddocan_dir), str(out),
                             "--strict"], capture_output=True, text=True, check=True)
    assert "alignment: 100.00%" in result.stdout
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("es").vocab))
    assert len(docs) == 4 and all(d.user_data["doc_id"] for d in docs)


def test_official_pharmaconer_offset_defects_are_reported(nlp):
    folder = MEDDOCAN_ROOT.parent / "pharmaconer" / "train"
    report = ConversionReport()
    (doc,) = brat_dir_to_docs(nlp, [folder], report)
    repaired = {p.ann_id: p.message for p in report.problems if p.kind == "offset_repaired"}
    assert sorted(repaired) == ["T10", "T11", "T5", "T7", "T9"] and len(report.problems) == 5
    assert all(p.line and "S0211-69952015000200015-1.ann" in p.path for p in report.problems)
    assert "'catecolaminas' is at 1914-1927" in repaired["T11"]
    assert report.entities == report.aligned == len(doc.spans["brat"]) == 12  # nothing lost
    assert "offset_repaired: 5" in report.summary()


ANN = "T1\tNOMBRE 9 19\tJuan Pérez\nT2\tFECHA 41 51\t12/12/2016\n"
TEXT = "Paciente Juan Pérez.\r\nEdad 70 años.\r\nIngresa 12/12/2016.\r\n"


@pytest.mark.parametrize("prefix,newline,expected_kind", [
    ("\ufeff", "\r\n", "text_normalized"),  # a BOM the annotation tool did not count, CRLF it counted as LF
    ("", "\r\n", "text_normalized"),  # CRLF counted as LF
    ("\ufeff", "\n", "text_normalized"),  # a BOM not counted
    ("", "\n", None),  # as it is
])
def test_bom_and_crlf_are_read_the_way_the_offsets_were_counted(nlp, tmp_path, prefix, newline, expected_kind):
    text = prefix + TEXT.replace("\r\n", newline)
    lf_text = TEXT.replace("\r\n", "\n")
    ann = "T1\tNOMBRE 9 19\tJuan Pérez\n" + f"T2\tFECHA {lf_text.index('12/')} {lf_text.index('12/') + 10}\t12/12/2016\n"
    (tmp_path / "d.txt").write_bytes(text.encode("utf8"))
    (tmp_path / "d.ann").write_text(ann, encoding="utf8")
    report = ConversionReport()
    (doc,) = brat_dir_to_docs(nlp, [tmp_path], report)
    assert [e.text for e in doc.ents] == ["Juan Pérez", "12/12/2016"]
    assert [p.kind for p in report.problems] == ([expected_kind] if expected_kind else [])
    if expected_kind:
        assert "d.ann" in str(report.problems[0]) and "mismatches" in report.problems[0].message


def test_bom_counted_by_the_annotations_is_kept(nlp, tmp_path):
    text = "\ufeffPaciente Juan Pérez."
    write(tmp_path, "d", text, "T1\tNOMBRE 10 20\tJuan Pérez\n")
    report = ConversionReport()
    (doc,) = brat_dir_to_docs(nlp, [tmp_path], report)
    assert doc.text == text and [e.text for e in doc.ents] == ["Juan Pérez"] and not report.problems


def test_empty_files_are_loaded_and_reported(nlp, tmp_path):
    write(tmp_path, "empty", "", "")
    write(tmp_path, "no_entities", "Sin hallazgos.", "")
    report = ConversionReport()
    docs = list(brat_dir_to_docs(nlp, [tmp_path], report))
    assert [d.text for d in docs] == ["", "Sin hallazgos."]
    assert [(p.kind, p.path.endswith("empty.txt")) for p in report.problems] == [("empty_text", True)]
    assert report.documents == 2


PUBTATOR = MEDDOCAN_ROOT.parent / "ncbi_pubtator"


def test_pubtator_documents_keep_every_mention_at_its_offsets(nlp, tmp_path):
    report = ConversionReport()
    docs = list(brat_dir_to_docs(nlp, [PUBTATOR / "train" / "train.txt"], report))
    lines = (PUBTATOR / "train" / "train.txt").read_text(encoding="utf8").splitlines()
    mentions = [line.split("\t") for line in lines if line.count("\t") == 5]
    assert len(docs) == 6 and report.entities == report.aligned == len(mentions) == 25
    first = docs[0]
    title, abstract = (line.split("|", 2)[2] for line in lines[:2])
    assert first.user_data["doc_id"] == "10078749" and first.text == f"{title} {abstract}"
    assert sorted((s.start_char, s.end_char, s.label_) for s in first.spans["brat"]) == sorted(
        (int(m[1]), int(m[2]), m[4]) for m in mentions if m[0] == "10078749")
    broken = tmp_path / "broken.txt"
    broken.write_text("\n".join(lines[:2] + ["10078749\t44\t66\toromandibular distonia\tSpecificDisease\tD1",
                                             "10078749\tCID\tD1\tD2"]) + "\n", encoding="utf8")
    report = ConversionReport()
    (doc,) = brat_dir_to_docs(nlp, [broken], report)
    assert {p.kind: p.line for p in report.problems} == {"offset_mismatch": 3, "ignored": 4}
    assert report.entities == 1 and report.aligned == 0 and not doc.ents  # counted as found, not placed


def test_jsonl_spans_convert_like_the_same_documents_in_brat_and_keep_their_metadata(nlp, meddocan_dir, tmp_path):
    brat = list(brat_dir_to_docs(nlp, [meddocan_dir], ConversionReport()))
    path = tmp_path / "notes.jsonl"
    with path.open("w", encoding="utf8") as f:
        for i, d in enumerate(brat):
            spans = [{"start": s.start_char, "end": s.end_char, "label": s.label_} for s in d.spans["brat"]]
            f.write(json.dumps({"id": d.user_data["doc_id"], "text": d.text, "spans": spans, "source": f"ward {i}"},
                               ensure_ascii=False) + "\n")
    out = tmp_path / "notes.spacy"
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "convert", str(path), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "alignment: 100.00%" in result.stdout
    docs = list(DocBin(store_user_data=True).from_disk(out).get_docs(nlp.vocab))
    assert [(d.user_data["doc_id"], d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents]) for d in docs] == \
        [(d.user_data["doc_id"], d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents]) for d in brat]
    assert docs[1].user_data["meta"] == {"source": "ward 1"}


def test_a_bad_jsonl_line_is_one_error_naming_file_and_line(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"text": "Juan", "spans": [{"start": 0, "end": 4, "label": "NOMBRE"}]}\n{"text": \n',
                    encoding="utf8")
    out = tmp_path / "out.spacy"
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "convert", str(path), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and f"{path}:2: not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
