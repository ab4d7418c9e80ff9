import spacy
from spacy.training import Example

from spacy_clinx.scoring import char_strict_prf


def doc_with(nlp, text, ents, nested=None):
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
    if nested is not None:
        doc.spans["brat"] = [doc.char_span(s, e, label=label) for s, e, label in nested]
    return doc


def test_strict_char_scores_count_boundary_and_label_errors():
    nlp = spacy.blank("es")
    text = "Juan Pérez nació en Madrid el 3 de mayo ."
    gold = doc_with(nlp, text, [(0, 10, "NOMBRE"), (20, 26, "LUGAR"), (30, 39, "FECHA")])
    pred = doc_with(nlp, text, [(0, 4, "NOMBRE"), (20, 26, "LUGAR"), (30, 39, "NOMBRE")])
    scores = char_strict_prf([Example(pred, gold)])
    assert scores["spans_char_counts"] == {"tp": 1, "fp": 2, "fn": 2}
    assert abs(scores["spans_char_p"] - 1 / 3) < 1e-9 and abs(scores["spans_char_r"] - 1 / 3) < 1e-9
    assert scores["spans_char_per_type"]["LUGAR"]["f"] == 1.0
    assert scores["spans_char_per_type"]["FECHA"] == {"p": 0.0, "r": 0.0, "f": 0.0}


def test_nested_gold_entities_count_as_misses():
    nlp = spacy.blank("es")
    text = "Hospital Clínico de Madrid"
    gold = doc_with(nlp, text, [(0, 26, "INSTITUCION")], nested=[(0, 26, "INSTITUCION"), (20, 26, "LUGAR")])
    pred = doc_with(nlp, text, [(0, 26, "INSTITUCION")])
    assert char_strict_prf([Example(pred, gold)])["spans_char_counts"] == {"tp": 1, "fp": 0, "fn": 1}
