"""Parquet notes in, a folder of Parquet parts out: the same entities as JSONL, other columns kept,
exactly once across a rerun, de-identified text when redacting, bad input named."""
import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest

from spacy_clinx.annotate import parquet
from spacy_clinx.annotate.run import annotate
from spacy_clinx.corpora.outputs import read_jsonl


@pytest.fixture(scope="module")
def notes(examples, tmp_path_factory):
    texts = [eg.reference.text for eg in examples]
    rows = [{"id": f"n{i:03d}", "text": texts[i % len(texts)][: 150 + 41 * i % 500], "ward": f"w{i % 3}",
             "year": 2000 + i} for i in range(40)]
    path = tmp_path_factory.mktemp("parquet") / "notes.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)  # several row groups
    return path, rows


def read_parts(folder):
    return pa.dataset.dataset(folder, format="parquet").to_table().to_pylist()


def test_parquet_output_has_the_jsonl_entities_and_the_other_columns(trained_dir, notes, tmp_path, monkeypatch):
    path, rows = notes
    monkeypatch.setattr(parquet, "ROWS_PER_PART", 16)  # 40 notes: parts of 16, 16 and 8
    annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", batch_size=8, progress=False)
    annotate(str(trained_dir), path, tmp_path / "out.jsonl", batch_size=8, progress=False)
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 3
    got = {r["id"]: r for r in read_parts(tmp_path / "out")}
    expected = {r["id"]: r for r in read_jsonl(tmp_path / "out.jsonl")}
    assert sorted(got) == [r["id"] for r in rows]
    for row in rows:
        out = got[row["id"]]
        assert (out["ward"], out["year"]) == (row["ward"], row["year"])
        assert [(e["label"], e["start"], e["end"], e["text"]) for e in out["entities"]] == \
               [(e["label"], e["start"], e["end"], e["text"]) for e in expected[row["id"]]["entities"]]
    assert sum(len(r["entities"]) for r in got.values()) > 20
    # a rerun finds every note done and writes no new part
    assert annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", progress=False)["written"] == 0
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 3


def test_a_run_killed_before_its_last_part_resumes_with_the_missing_notes(trained_dir, notes, tmp_path, monkeypatch):
    path, rows = notes
    monkeypatch.setattr(parquet, "ROWS_PER_PART", 16)
    annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", batch_size=8, progress=False)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    parts[-1].unlink()  # as if killed before the last part was renamed into place
    (tmp_path / "out" / (parts[-1].name + ".partial")).write_bytes(b"half a part")
    stats = annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", batch_size=8, progress=False)
    assert stats["written"] == 8 and stats["skipped_already_done"] == 32
    ids = [r["id"] for r in read_parts(tmp_path / "out")]
    assert sorted(ids) == [r["id"] for r in rows] and len(ids) == len(set(ids))


def test_redacted_parquet_output_holds_the_masked_text_and_drops_the_other_columns(trained_dir, notes, tmp_path):
    path, rows = notes
    annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", redact="mask", progress=False)
    for out, row in zip(sorted(read_parts(tmp_path / "out"), key=lambda r: r["id"]), rows):
        assert "ward" not in out  # other fields may identify too
        for e in out["entities"]:
            assert out["text"][e["start"]:e["end"]] == f"[{e['label']}]"
            assert 0 <= e["source_start"] < e["source_end"] <= len(row["text"])  # the offsets map to the input


def test_parquet_without_a_text_column_is_named(trained_dir, tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "a", "body": "x"}]), path)
    with pytest.raises(ValueError, match=r"bad\.parquet: the Parquet file has no 'text' column \(columns: id, body\)"):
        annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_part_lost_in_the_middle_is_redone_without_overwriting_the_parts_after_it(trained_dir, notes, tmp_path,
                                                                                   monkeypatch):
    path, rows = notes
    monkeypatch.setattr(parquet, "ROWS_PER_PART", 16)
    annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", batch_size=8, progress=False)
    sorted((tmp_path / "out").glob("part-*.parquet"))[1].unlink()  # 16 notes gone, parts 0 and 2 kept
    stats = annotate(str(trained_dir), path, tmp_path / "out", fmt="parquet", batch_size=8, progress=False)
    assert stats["written"] == 16
    ids = [r["id"] for r in read_parts(tmp_path / "out")]
    assert sorted(ids) == [r["id"] for r in rows] and len(ids) == len(set(ids))
