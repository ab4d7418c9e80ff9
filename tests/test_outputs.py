"""Predictions written as brat and as JSON lines read back exactly (offsets, labels, texts)."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_clinx.corpora import read_brat_document
from spacy_clinx.corpora.outputs import doc_entities, jsonl_line, read_jsonl, write_brat


@st.composite
def documents(draw):
    text = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=80))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=8))))
    entities = []
    for start, end in zip(cuts[::2], cuts[1::2]):
        if start < end:
            label = draw(st.sampled_from(["FECHAS", "NOMBRE_SUJETO_ASISTENCIA", "X"]))
            entities.append({"label": label, "start": start, "end": end, "text": text[start:end], "score": None})
    return text, entities


@settings(max_examples=300, deadline=None)
@given(doc=documents())
def test_brat_round_trip(tmp_path_factory, doc):
    text, entities = doc
    folder = tmp_path_factory.mktemp("brat")
    write_brat(folder, "doc", text, entities)
    record = read_brat_document(folder / "doc.txt")
    assert record.text == text
    assert [p.kind for p in record.problems] == []
    assert sorted((e.label, e.start, e.end, e.text) for e in record.entities) == \
        sorted((e["label"], e["start"], e["end"], e["text"]) for e in entities)


@settings(max_examples=300, deadline=None)
@given(doc=documents())
def test_jsonl_round_trip(tmp_path_factory, doc):
    text, entities = doc
    path = tmp_path_factory.mktemp("jsonl") / "out.jsonl"
    path.write_text(jsonl_line("a", entities, text) + jsonl_line("b", []), encoding="utf8")
    first, second = read_jsonl(path)
    assert first == {"id": "a", "entities": entities, "text": text} and second == {"id": "b", "entities": []}


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "1", "text": "a"}\n{"id": 2, "text": \n["x"]\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"in\.jsonl:2: not valid JSON"):
        list(read_jsonl(path))
    path.write_text('{"id": "1"}\n["x"]\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"in\.jsonl:2: expected a JSON object"):
        list(read_jsonl(path))
    with pytest.raises(ValueError, match=r"in\.jsonl:1: the record has no 'text'"):
        list(read_jsonl(path, require=("id", "text")))


def test_predicted_entities_carry_their_confidence(trained, tmp_path):
    trained.get_pipe("clinx_ner").spans_key = "clinx"
    try:
        doc = trained("Nombre: Ernesto. Apellidos: Rivera Bueno. NHC: 368503.")
    finally:
        trained.get_pipe("clinx_ner").spans_key = None
    entities = doc_entities(doc, "clinx")
    assert len(entities) >= 2 and all(0 < e["score"] <= 1.0001 for e in entities)
    write_brat(tmp_path, "d", doc.text, entities)
    record = read_brat_document(tmp_path / "d.txt")
    assert [(e.start, e.end, e.label) for e in record.entities] == [(e["start"], e["end"], e["label"]) for e in entities]
    assert json.loads(jsonl_line("d", entities))["entities"] == entities
