"""Test documents kept out of masked-LM text (corpora/near_duplicates.py, the encoder step's --exclude)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from spacy_clinx.corpora.near_duplicates import drop_near_duplicates

ROOT = Path(__file__).resolve().parents[1]
CORPORA = Path(__file__).parent / "fixtures" / "corpora"

TEST_DOC = ("Paciente varón de 45 años que acude a urgencias por dolor torácico opresivo de dos horas de evolución, "
            "irradiado a brazo izquierdo, acompañado de sudoración profusa. Antecedentes de hipertensión arterial "
            "y diabetes mellitus tipo 2 en tratamiento con metformina. Se realiza electrocardiograma que muestra "
            "elevación del segmento ST en derivaciones inferiores.")
OTHER = ("Mujer de 70 años remitida a consulta de neurología por temblor de reposo en la mano derecha de un año de "
         "evolución, con rigidez y bradicinesia. Se inicia tratamiento con levodopa con buena respuesta.")


def test_exact_edited_excerpted_and_padded_copies_go_and_other_notes_stay():
    notes = [
        TEST_DOC.upper().replace(",", " ,"),  # the same words: exact
        TEST_DOC.replace("45 años", "47 años").replace("metformina", "insulina"),  # edited copy
        TEST_DOC[: len(TEST_DOC) // 2],  # an excerpt
        "Informe de alta. " + TEST_DOC + " " + OTHER + " " + OTHER.replace("Mujer", "Varón"),  # inside a longer note
        OTHER,
        "Dolor torácico opresivo en paciente diabético.",  # shares words, no 5-gram
    ]
    result = drop_near_duplicates(notes, [TEST_DOC])
    assert (result.exact, result.near) == (1, 3)
    assert result.kept == notes[4:]
    assert "removed 1 exact and 3 near duplicates" in result.summary()


def test_one_common_phrase_or_an_empty_document_does_not_make_a_duplicate():
    long_note = "Paciente de 45 años de edad con antecedentes de asma. " + OTHER
    result = drop_near_duplicates([long_note, "...", "-- --"], ["Paciente de 45 años de sexo.", "", "?!"])
    assert result.kept == [long_note, "...", "-- --"] and (result.exact, result.near) == (0, 0)


def test_nothing_excluded_keeps_every_note():
    assert drop_near_duplicates([TEST_DOC, OTHER], []).kept == [TEST_DOC, OTHER]


def test_the_encoder_step_drops_test_documents_from_the_unlabeled_notes_and_says_how_many(tmp_path):
    train = CORPORA / "clinic_notes" / "train"
    test_doc = sorted(train.glob("*.txt"))[0]
    unlabeled = tmp_path / "notes"
    unlabeled.mkdir()
    (unlabeled / "copy.txt").write_text(test_doc.read_text(encoding="utf8"), encoding="utf8")
    (unlabeled / "own.txt").write_text(OTHER, encoding="utf8")
    excluded = tmp_path / "test"
    excluded.mkdir()
    shutil.copy(test_doc, excluded / test_doc.name)
    args = [sys.executable, "-m", "spacy_clinx", "encoder", str(tmp_path / "enc"), "-t", str(train), "--profile",
            str(ROOT / "configs/profiles/cpu.cfg"), "--mlm-steps", "0", "--vocab-size", "300", "--hidden-size", "32",
            "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64", "--unlabeled", str(unlabeled)]
    result = subprocess.run([*args, "--exclude", str(excluded)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 notes kept; removed 1 exact and 0 near duplicates" in result.stdout
    record = json.loads((tmp_path / "enc" / "unlabeled.json").read_text())
    assert (record["kept"], record["exact_duplicates"], record["near_duplicates"]) == (1, 1, 0)
    missing = subprocess.run([*args, "--exclude", str(tmp_path / "nope.spacy")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.spacy: no such DocBin or folder (--exclude)" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
