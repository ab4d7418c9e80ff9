"""Any text through ``nlp.pipe`` of a trained pipeline: never a crash, and every entity lies inside
the text with ``ent.text == doc.text[start:end]``. Hypothesis mixes clinical snippets (so that
entities are predicted) with text from every Unicode category."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SNIPPETS = [
    "Nombre: Ernesto. Apellidos: Rivera Bueno. NHC: 368503.",
    "Fecha de ingreso: 16/03/2017. Médico: Dra. Ana López.",
    "Paciente de 45 años, varón, natural de Madrid (España).",
    "\n\n", " ", "\t", "\r\n",
]
ANY_CHAR = st.characters(codec="utf-8")  # every category except unpaired surrogates (tested below)
EDGE = st.sampled_from(["\u0301", "\u200d", "\u200b", "👩‍⚕️", "🇪🇸", "שלום", "مرحبا", "\u202e", "\x00", "\x1b",
                        "\ufeff", "\u2028", "ﬁ", "Å", "A\u030a", "\U0001d400", "\ufffd"])
TEXTS = st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(ANY_CHAR, max_size=30), EDGE), max_size=12).map("".join)


def check(docs, texts):
    for doc, text in zip(docs, texts):
        assert doc.text == text
        previous_end = -1
        for ent in doc.ents:
            assert 0 <= ent.start_char < ent.end_char <= len(text)
            assert ent.text == text[ent.start_char : ent.end_char]
            assert ent.start_char >= previous_end
            previous_end = ent.end_char


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXTS, min_size=1, max_size=4))
def test_any_text_gives_entities_inside_the_text(trained, texts):
    check(trained.pipe(texts, batch_size=3), texts)


@pytest.mark.parametrize("text", ["", " ", "\n\n\t ", "a", "\x00", "👩‍⚕️", "\u0301" * 50, "12/12/2016",
                                  "\ufeffNombre: Ernesto.", "Nombre: Ernesto.\r\n" * 3])
def test_edge_texts(trained, text):
    (doc,) = trained.pipe([text])
    check([doc], [text])


def test_half_a_million_characters_in_one_document(trained):
    text = " ".join(SNIPPETS[:3]) * (500_000 // len(" ".join(SNIPPETS[:3])) + 1)
    assert len(text) >= 500_000
    doc = trained(text)
    check([doc], [text])
    assert len(doc.ents) > 1000 and doc.ents[-1].end_char > len(text) - 200


def test_unpaired_surrogates_are_rejected_with_their_offset(trained):
    # spaCy refuses them before any component runs, with a UnicodeEncodeError (a ValueError) naming the
    # position; no Doc can hold one, so clinx_ner never sees one
    with pytest.raises(ValueError, match=r"'\\ud800' in position 8: surrogates not allowed"):
        trained("Paciente\ud800 de 45 años")
    with pytest.raises(ValueError, match="surrogates not allowed"):
        list(trained.pipe(["bien", "\udfff"]))
