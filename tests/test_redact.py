"""De-identified output: masks and surrogates with gold entities as the predictions (annotate/redact.py)."""
import json
import re
import subprocess
import sys
from datetime import date

import pytest

from pipelines import SUBPROCESS_ENV
from spacy_clinx.annotate.redact import redact, redacted_result, shift_date, surrogate_kind, to_input_offset

KEY = b"test key"


def gold(examples):
    return [(eg.reference.user_data["doc_id"], eg.reference.text,
             [{"label": e.label_, "start": e.start_char, "end": e.end_char} for e in eg.reference.ents])
            for eg in examples]


def outside_entities(text, entities, needle):
    """Occurrences of ``needle`` in the text once the entities are cut out: what redaction may keep."""
    kept, at = [], 0
    for e in sorted(entities, key=lambda e: e["start"]):
        kept.append(text[at:e["start"]])
        at = e["end"]
    kept.append(text[at:])
    return sum(part.count(needle) for part in kept)


@pytest.mark.parametrize("mode", ["mask", "surrogate"])
def test_no_entity_string_remains_and_the_offsets_map_back_to_the_input(examples, mode):
    for doc_id, text, entities in gold(examples):
        out, replacements = redact(doc_id, text, entities, mode, KEY)
        copied = list(out)
        for r in replacements:  # the masks and surrogates themselves, blanked: what is left was copied
            copied[r.out_start:r.out_end] = "\0" * (r.out_end - r.out_start)
        copied = "".join(copied)
        for e, r in zip(sorted(entities, key=lambda e: e["start"]), replacements):
            original = text[e["start"]:e["end"]]
            assert copied.count(original) == outside_entities(text, entities, original), (doc_id, original)
            assert out[r.out_start:r.out_end] != original
        between_in, between_out, at_in, at_out = [], [], 0, 0
        for r in replacements:
            between_in.append(text[at_in:r.start])
            between_out.append(out[at_out:r.out_start])
            at_in, at_out = r.end, r.out_end
            if mode == "mask":
                assert out[r.out_start:r.out_end] == f"[{r.label}]"
        assert between_in == between_out and text[at_in:] == out[at_out:]
        for position in range(0, len(out), 7):  # every copied character maps back to itself
            if not any(r.out_start <= position < r.out_end for r in replacements):
                assert text[to_input_offset(replacements, position)] == out[position]


def test_surrogates_are_consistent_within_a_document_and_keep_their_kind(examples):
    for doc_id, text, entities in gold(examples):
        _, _, result = redacted_result(doc_id, text, entities, "surrogate", KEY)
        by_original = {}
        for e in result:
            original = text[e["source_start"]:e["source_end"]]
            by_original.setdefault((surrogate_kind(e["label"]), original), set()).add(e["text"])
            kind = surrogate_kind(e["label"])
            if kind == "digits":  # digit for digit, letter for letter, every one changed
                assert len(e["text"]) == len(original)
                assert re.sub(r"\w", "0", e["text"]) == re.sub(r"\w", "0", original)
                assert all(a.lower() != b.lower() for a, b in zip(e["text"], original) if b.isalnum())
            elif kind == "email":
                assert re.fullmatch(r"[a-z]+\d\d@example\.org", e["text"])
        assert all(len(surrogates) == 1 for surrogates in by_original.values()), by_original
    # another document gets other surrogates
    doc_id, text, entities = gold(examples)[0]
    assert redact(doc_id, text, entities, "surrogate", KEY)[0] != redact(doc_id + "x", text, entities, "surrogate", KEY)[0]
    # and without the key, nobody can draw the same surrogates again
    assert redact(doc_id, text, entities, "surrogate", KEY)[0] != redact(doc_id, text, entities, "surrogate", b"other")[0]


def test_every_date_of_a_document_moves_by_the_same_days_in_its_own_format():
    text = "Ingreso el 03/03/2019, alta el 2019-03-10; revisión el 3 de marzo de 2020."
    spans = [(text.index(d), text.index(d) + len(d)) for d in ("03/03/2019", "2019-03-10", "3 de marzo de 2020")]
    out, replacements = redact("nota7", text, [{"label": "FECHAS", "start": s, "end": e} for s, e in spans], "surrogate", KEY)
    new = [out[r.out_start:r.out_end] for r in replacements]
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", new[0]) and re.fullmatch(r"\d{4}-\d\d-\d\d", new[1])
    assert re.fullmatch(r"\d{1,2} de [a-z]+ de \d{4}", new[2])
    d0, d1 = date(*map(int, reversed(new[0].split("/")))), date.fromisoformat(new[1])
    assert (d0 - date(2019, 3, 3)) == (d1 - date(2019, 3, 10)) and (d0 - date(2019, 3, 3)).days != 0
    assert shift_date("31/02/2019", 5) is None  # no such date: replaced digit by digit instead


def test_the_kind_of_a_surrogate_comes_from_the_words_of_its_label():
    kinds = {label: surrogate_kind(label) for label in ("ID_SUJETO_ASISTENCIA", "FECHAS", "NOMBRE_PERSONAL_SANITARIO",
                                                        "CORREO_ELECTRONICO", "LANGUAGE", "CANDIDATE", "Identifier")}
    assert kinds == {"ID_SUJETO_ASISTENCIA": "digits", "FECHAS": "date", "NOMBRE_PERSONAL_SANITARIO": "name",
                     "CORREO_ELECTRONICO": "email", "LANGUAGE": "shape", "CANDIDATE": "shape", "Identifier": "digits"}


def test_a_note_without_entities_is_copied_as_it_is():
    assert redact("n", "Sin datos personales.", [], "surrogate") == ("Sin datos personales.", [])


def test_annotate_writes_de_identified_jsonl_and_never_over_its_input(trained_dir, examples, tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "text": eg.reference.text, "mrn": "4471983"},
                                        ensure_ascii=False) + "\n"
                             for i, eg in enumerate(examples[:2])), encoding="utf8")
    run = lambda out, *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "spacy_clinx", "annotate", str(trained_dir), str(notes), str(out), *extra],
        capture_output=True, text=True, env=SUBPROCESS_ENV)
    result = run(tmp_path / "deid.jsonl", "--redact", "mask")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "deid.jsonl").read_text(encoding="utf8").splitlines()]
    for record, eg in zip(records, examples[:2]):
        assert "mrn" not in record  # the record's other fields may identify too: not copied
        assert record["entities"] and all(record["text"][e["start"]:e["end"]] == f"[{e['label']}]"
                                          for e in record["entities"])
        assert all(eg.reference.text[e["source_start"]:e["source_end"]] not in record["text"]
                   for e in record["entities"] if e["source_end"] - e["source_start"] > 8)
    before = notes.read_bytes()
    result = run(notes, "--redact", "surrogate")
    assert result.returncode == 2 and "overwrite the input" in result.stderr and notes.read_bytes() == before
