"""clinx annotate: JSONL and brat output, exactly once across a kill and restart, several
processes, and Ray, all giving the same entities document by document."""
import json
import signal
import subprocess
import sys
import time

import pytest

from pipelines import SUBPROCESS_ENV

from spacy_clinx.annotate.run import annotate
from spacy_clinx.corpora import read_brat_dir
from spacy_clinx.corpora.outputs import read_jsonl


@pytest.fixture(scope="module")
def notes(examples, tmp_path_factory):
    texts = [eg.reference.text for eg in examples]
    path = tmp_path_factory.mktemp("notes") / "notes.jsonl"
    records = [{"id": f"note{i:04d}", "text": texts[i % len(texts)][: 200 + 37 * i % 600]} for i in range(120)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf8")
    return path, records


@pytest.fixture(scope="module")
def reference(trained, notes):
    """What one process writes: id -> entities."""
    _, records = notes
    return {r["id"]: [(e.label_, e.start_char, e.end_char, e.text) for e in doc.ents]
            for r, doc in zip(records, trained.pipe(r["text"] for r in records))}


def written(path):
    records = list(read_jsonl(path))
    return [r["id"] for r in records], {r["id"]: [(e["label"], e["start"], e["end"], e["text"]) for e in r["entities"]]
                                        for r in records}


def test_jsonl_output_with_scores(trained_dir, notes, reference, tmp_path):
    stats = annotate(str(trained_dir), notes[0], tmp_path / "out.jsonl", progress=False)
    ids, entities = written(tmp_path / "out.jsonl")
    assert ids == sorted(reference) and entities == reference
    assert stats["written"] == 120 and stats["docs_per_s"] > 0
    first = next(r for r in read_jsonl(tmp_path / "out.jsonl") if r["entities"])
    assert all(0 < e["score"] <= 1.0001 for e in first["entities"])


def test_killed_run_resumes_and_writes_every_document_exactly_once(trained_dir, notes, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "spacy_clinx", "annotate", str(trained_dir), str(notes[0]), str(out),
            "--batch-size", "2"]
    env = SUBPROCESS_ENV
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while not out.exists() or out.read_text(encoding="utf8").count("\n") < 20:
        assert proc.poll() is None, "annotate finished before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = out.read_bytes()
    assert 20 <= before.count(b"\n") < 120
    with out.open("ab") as f:  # as if killed in the middle of writing a line
        f.write(b'{"id": "note9999", "entit')
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["skipped_already_done"] == before.count(b"\n") and stats["written"] == 120 - stats["skipped_already_done"]
    ids, entities = written(out)
    assert sorted(ids) == sorted(reference) and len(ids) == len(set(ids)) == 120
    assert entities == reference


def test_brat_output_and_several_processes(trained_dir, notes, reference, tmp_path):
    annotate(str(trained_dir), notes[0], tmp_path / "brat", fmt="brat", n_process=2, batch_size=8, progress=False)
    got = {d.id: [(e.label, e.start, e.end, e.text) for e in d.entities] for d in read_brat_dir(tmp_path / "brat")}
    assert got == reference
    assert all(not d.problems for d in read_brat_dir(tmp_path / "brat"))
    # a rerun finds everything done
    assert annotate(str(trained_dir), notes[0], tmp_path / "brat", fmt="brat", progress=False)["written"] == 0


def test_int8_output_is_the_same_in_one_process_and_two(trained_dir, notes, tmp_path):
    """--cpu-int8: ONNX Runtime's int8 in every worker, a note's entities the same whatever process
    and batch it lands in (each window run alone in ONNX Runtime)."""
    from spacy_clinx.annotate.engines import load_for_annotation

    assert load_for_annotation(str(trained_dir), cpu_int8=True).get_pipe("clinx_ner").cpu_int8
    annotate(str(trained_dir), notes[0], tmp_path / "one.jsonl", batch_size=32, progress=False, cpu_int8=True)
    annotate(str(trained_dir), notes[0], tmp_path / "two.jsonl", batch_size=5, n_process=2, progress=False,
             cpu_int8=True)
    one, two = list(read_jsonl(tmp_path / "one.jsonl")), list(read_jsonl(tmp_path / "two.jsonl"))
    assert one == two and any(r["entities"] for r in one)  # the entities' CRF scores too, to the last bit
    with pytest.raises(ValueError, match="--cpu-int8 is a CPU setting"):
        annotate(str(trained_dir), notes[0], tmp_path / "gpu.jsonl", gpu_id=0, progress=False, cpu_int8=True)
    assert not (tmp_path / "gpu.jsonl").exists()


@pytest.mark.slow
def test_ray_engine_matches_one_process(trained_dir, notes, reference, tmp_path):
    import ray  # installed by scripts/setup.sh (the "ray" extra)

    try:
        # 120 notes, at most 32 in flight (2 batches of 16): 8 batches through 2 actors
        summary = annotate(str(trained_dir), notes[0], tmp_path / "ray.jsonl", engine="ray", workers=2,
                           batch_size=16, chunk_docs=32, progress=False)
    finally:
        ray.shutdown()
    ids, entities = written(tmp_path / "ray.jsonl")
    assert ids == sorted(reference) and len(ids) == 120  # in input order
    assert entities == reference
    assert summary["pipeline_loads"] == 2  # once per actor for the run, not once per batch or chunk


def test_bad_input_is_named(trained_dir, tmp_path):
    notes = tmp_path / "dup.jsonl"
    notes.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf8")
    result = subprocess.run([sys.executable, "-m", "spacy_clinx", "annotate", str(trained_dir), str(notes),
                             str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "id 'a' occurs twice (records 1 and 2)" in result.stderr
    notes.write_text('{"id": "a"}\n', encoding="utf8")
    with pytest.raises(ValueError, match=r"dup\.jsonl:1: the record has no 'text'"):
        annotate(str(trained_dir), notes, tmp_path / "o.jsonl", progress=False)


def test_ensemble_entity_score_is_the_share_of_members_that_found_it():
    import spacy
    from spacy.tokens import Span, SpanGroup

    from spacy_clinx.annotate.engines import MEMBERS_PREFIX, scored_entities

    doc = spacy.blank("es")("Juan Pérez vive en Madrid")
    doc.ents = [Span(doc, 0, 2, "NOMBRE"), Span(doc, 4, 5, "CALLE")]
    members = [[Span(doc, 0, 2, "NOMBRE")], [Span(doc, 0, 2, "NOMBRE"), Span(doc, 4, 5, "CALLE")],
               [Span(doc, 0, 1, "NOMBRE")]]
    for i, spans in enumerate(members):
        doc.spans[f"{MEMBERS_PREFIX}{i}"] = SpanGroup(doc, spans=spans)
    assert [(e["text"], e["score"]) for e in scored_entities(doc)] == [("Juan Pérez", 2 / 3), ("Madrid", 1 / 3)]


def test_gzip_jsonl_input_keeps_each_records_other_fields_in_the_output(trained_dir, examples, tmp_path):
    import gzip

    notes = tmp_path / "notes.jsonl.gz"
    with gzip.open(notes, "wt", encoding="utf8") as f:
        for i, eg in enumerate(examples[:3]):
            f.write(json.dumps({"id": f"n{i}", "text": eg.reference.text, "ward": f"ward {i}", "meta": {"year": 2020 + i}},
                               ensure_ascii=False) + "\n")
    stats = annotate(str(trained_dir), notes, tmp_path / "out.jsonl", progress=False)
    records = list(read_jsonl(tmp_path / "out.jsonl"))
    assert stats["written"] == 3 and [r["id"] for r in records] == ["n0", "n1", "n2"]
    assert [(r["ward"], r["meta"]) for r in records] == [(f"ward {i}", {"year": 2020 + i}) for i in range(3)]
    assert all(r["entities"] and "text" not in r for r in records)
