"""Parquet notes in (a file or a folder; on Ray through Ray Data), a folder of Parquet parts out: the
same entities as JSONL, other columns kept, exactly once across a rerun, de-identified text when
redacting, bad input named."""
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
    with pytest.raises(ValueError, match=r"bad\.parquet: the Parquet input has no 'text' column \(columns: id, body\)"):
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


@pytest.fixture(scope="module")
def notes_folder(notes, tmp_path_factory):
    """The same notes in two files of a folder (as a cluster job's input usually is), ids as integers."""
    path, rows = notes
    folder = tmp_path_factory.mktemp("parquet-folder")
    rows = [{**r, "id": int(r["id"][1:])} for r in rows]
    pq.write_table(pa.Table.from_pylist(rows[:25]), folder / "a.parquet", row_group_size=6)
    pq.write_table(pa.Table.from_pylist(rows[25:]), folder / "b.parquet")
    return folder, rows


def test_a_folder_of_parquet_files_is_one_input_and_a_duplicate_across_files_is_named(trained_dir, notes, notes_folder,
                                                                                    tmp_path):
    folder, rows = notes_folder
    annotate(str(trained_dir), notes[0], tmp_path / "file", fmt="parquet", progress=False)
    annotate(str(trained_dir), folder, tmp_path / "folder", fmt="parquet", progress=False)
    from_file = {r["id"]: r["entities"] for r in read_parts(tmp_path / "file")}
    assert {f"n{int(r['id']):03d}": r["entities"] for r in read_parts(tmp_path / "folder")} == from_file
    pq.write_table(pa.Table.from_pylist([{"id": 3, "text": "otra nota"}]), tmp_path / "c.parquet")
    dup = tmp_path / "dup"
    dup.mkdir()
    for name in ("a.parquet", "b.parquet"):
        (dup / name).write_bytes((folder / name).read_bytes())
    (dup / "c.parquet").write_bytes((tmp_path / "c.parquet").read_bytes())
    with pytest.raises(ValueError, match=r"dup: id '3' occurs twice \(rows 4 and 41\)"):
        annotate(str(trained_dir), dup, tmp_path / "dup-out", fmt="parquet", progress=False)
    assert not (tmp_path / "dup-out").exists()
    (dup / "c.parquet").rename(dup / "_c.parquet")  # hidden (as Spark's _SUCCESS): not read by either engine
    (dup / "README.md").write_text("not a note", encoding="utf8")
    assert annotate(str(trained_dir), dup, tmp_path / "dup-out", fmt="parquet", progress=False)["written"] == 40
    (dup / "stray.txt").write_text("una nota", encoding="utf8")
    with pytest.raises(ValueError, match=r"dup: the folder holds both \.txt notes and \.parquet files"):
        annotate(str(trained_dir), dup, tmp_path / "txt-out", fmt="parquet", progress=False)


@pytest.mark.parametrize("row,message", [({"id": None, "text": "x"}, r"bad\.parquet: row 2: the id is null"),
                                         ({"id": "b", "text": None}, r"bad\.parquet: row 2 \(id 'b'\): the text is null")])
def test_a_null_id_or_text_is_named_by_row(trained_dir, tmp_path, row, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "a", "text": "una nota"}, row],
                                        schema=pa.schema([("id", pa.string()), ("text", pa.string())])), path)
    with pytest.raises(ValueError, match=message):
        annotate(str(trained_dir), path, tmp_path / "out.jsonl", progress=False)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
def test_ray_data_reads_parquet_on_the_cluster_and_the_driver_writes_each_note_once(trained_dir, notes_folder,
                                                                                  tmp_path, monkeypatch):
    import ray  # installed by scripts/setup.sh (the "ray" extra)

    folder, rows = notes_folder
    monkeypatch.setattr(parquet, "ROWS_PER_PART", 16)
    annotate(str(trained_dir), folder, tmp_path / "local", fmt="parquet", batch_size=4, progress=False)
    (tmp_path / "ray").mkdir()
    for part in sorted((tmp_path / "local").glob("part-*.parquet"))[1:]:  # as if a run was killed before part 0
        (tmp_path / "ray" / part.name).write_bytes(part.read_bytes())
    try:
        stats = annotate(str(trained_dir), folder, tmp_path / "ray", fmt="parquet", engine="ray", workers=1,
                         batch_size=4, progress=False)
    finally:
        ray.shutdown()
    assert stats["written"] == 16 and stats["skipped_already_done"] == 24  # only the notes of the lost part
    assert stats["pipeline_loads"] == 1  # 4 batches through one actor: one load for the run, not one per batch
    local, on_ray = read_parts(tmp_path / "local"), read_parts(tmp_path / "ray")
    assert sorted(r["id"] for r in on_ray) == sorted(str(r["id"]) for r in rows)  # every note once
    redone = pq.read_table(sorted((tmp_path / "ray").glob("part-*.parquet"))[-1]).to_pylist()
    assert redone == local[:16]  # in input order, the same entities and scores, the other columns kept
