"""Parquet notes in, Parquet annotations out (pyarrow), read and written as a stream.

Input: a ``.parquet`` file, or a folder of them, with ``id`` and ``text`` columns, read one record
batch at a time (on Ray, by Ray Data: ``ray_data.py``); its other columns travel to the output, as a JSONL record's other fields do. Output: a folder of part
files, each written aside and renamed, so a part is there whole or not at all; a restarted run reads
the ids of the parts present and skips them. Rows are buffered up to ``ROWS_PER_PART`` per part, so a
kill loses at most the unwritten buffer, which the next run annotates again: every note is written
exactly once. The folder reads back as one table with ``pyarrow.dataset`` or ``ray.data.read_parquet``.
"""
from pathlib import Path
from typing import Iterator, List, Optional, Set, Tuple

from ..atomic import written_aside

ROWS_PER_PART = 4096
READ_BATCH_ROWS = 1024


def pyarrow_modules():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ImportError("Parquet input or output needs pyarrow: pip install pyarrow") from None
    return pyarrow, pyarrow.parquet


def note_files(path: Path) -> List[Path]:
    """The Parquet files of an input: the file itself, or every ``.parquet`` file under a folder in
    path order, leaving out hidden ones (a part of the path starting with ``.`` or ``_``, as Spark's
    ``_SUCCESS`` or a ``.partial`` file). Both engines read exactly these."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(f for f in path.rglob("*.parquet")
                  if not any(part[0] in "._" for part in f.relative_to(path).parts))


def is_parquet(path: Path) -> bool:
    """A ``.parquet`` file, or a folder of them; a folder holding ``.txt`` notes too is an error
    (which of the two to read would be a guess)."""
    path = Path(path)
    if not path.is_dir():
        return path.suffix == ".parquet" and path.is_file()
    if not note_files(path):
        return False
    if next(path.rglob("*.txt"), None) is not None:
        raise ValueError(f"{path}: the folder holds both .txt notes and .parquet files; give one kind of input")
    return True


def note_id(value, where: str) -> str:
    """A note's id as every engine writes and compares it: the value as text; null is an error."""
    if value is None:
        raise ValueError(f"{where}: the id is null; every note needs an id")
    return str(value)


def open_notes(path: Path):
    """The notes as a ``pyarrow.dataset.Dataset`` over ``note_files``, or a one-line error naming
    the input and what is wrong."""
    pyarrow, _ = pyarrow_modules()
    import pyarrow.dataset

    try:
        notes = pyarrow.dataset.dataset([str(f) for f in note_files(path)], format="parquet")
        schema = notes.schema
    except Exception as err:  # pyarrow's ArrowInvalid and kin: not Parquet
        raise ValueError(f"{path}: not readable as Parquet ({err})") from None
    missing = [c for c in ("id", "text") if c not in schema.names]
    if missing:
        raise ValueError(f"{path}: the Parquet input has no {', '.join(map(repr, missing))} column "
                         f"(columns: {', '.join(schema.names)})")
    text = schema.field("text").type
    if not (pyarrow.types.is_string(text) or pyarrow.types.is_large_string(text)):
        raise ValueError(f"{path}: the 'text' column holds {text}, not strings")
    return notes


def parquet_ids(path: Path) -> Iterator[str]:
    """The ids of the notes, reading the id column alone."""
    row = 0
    for batch in open_notes(path).to_batches(columns=["id"], batch_size=READ_BATCH_ROWS * 64):
        for value in batch["id"].to_pylist():
            row += 1
            yield note_id(value, f"{path}: row {row}")


def read_parquet_notes(path: Path) -> Iterator[Tuple[str, str, Optional[dict]]]:
    """(id, text, other columns or None) per row, one record batch in memory at a time."""
    row = 0
    for batch in open_notes(path).to_batches(batch_size=READ_BATCH_ROWS):
        for record in batch.to_pylist():
            row += 1
            doc_id, text = note_id(record.pop("id"), f"{path}: row {row}"), record.pop("text")
            if text is None:
                raise ValueError(f"{path}: row {row} (id {doc_id!r}): the text is null")
            record.pop("entities", None)
            yield doc_id, text, record or None


class ParquetSink:
    """A folder of ``part-NNNNNN.parquet`` files: id, entities (label, start, end, text, score), the
    de-identified text when redacting, and the input's other columns."""

    def __init__(self, folder: Path, with_text: bool = False):
        self.pa, self.pq = pyarrow_modules()
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"{folder}: Parquet output is a folder of part files; this is a file")
        self.with_text = with_text
        self.folder.mkdir(parents=True, exist_ok=True)
        self.parts = sorted(self.folder.glob("part-*.parquet"))
        self.done: Set[str] = {str(i) for part in self.parts
                               for i in self.pq.read_table(part, columns=["id"])["id"].to_pylist()}
        self.rows: List[dict] = []

    def write(self, results: List[Tuple[str, str, list]], fields: Optional[List[Optional[dict]]] = None) -> None:
        fields = fields or [None] * len(results)
        for (doc_id, text, entities), extra in zip(results, fields):
            row = {**(extra or {}), "id": doc_id,
                   "entities": [{"label": e["label"], "start": e["start"], "end": e["end"], "text": e["text"],
                                 "score": e.get("score")} for e in entities]}
            if self.with_text:
                row["text"] = text
                for e, out in zip(entities, row["entities"]):
                    out.update(source_start=e["source_start"], source_end=e["source_end"])
            self.rows.append(row)
        if len(self.rows) >= ROWS_PER_PART:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        entity = [("label", self.pa.string()), ("start", self.pa.int64()), ("end", self.pa.int64()),
                  ("text", self.pa.string()), ("score", self.pa.float64())]
        if self.with_text:
            entity += [("source_start", self.pa.int64()), ("source_end", self.pa.int64())]
        table = self.pa.Table.from_pylist(self.rows)
        ours = {"id": self.pa.string(), "entities": self.pa.list_(self.pa.struct(entity)),
                **({"text": self.pa.string()} if self.with_text else {})}
        table = table.cast(self.pa.schema([(f.name, ours.get(f.name, f.type)) for f in table.schema]))
        number = int(self.parts[-1].stem[len("part-"):]) + 1 if self.parts else 0  # never a present part's name
        part = self.folder / f"part-{number:06d}.parquet"
        with written_aside(part) as partial:
            self.pq.write_table(table, partial)
        self.parts.append(part)
        self.rows = []

    def close(self) -> None:
        self.flush()

    def remove(self) -> None:
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
