"""Notes to annotate: a folder of .txt files (brat folders included; .ann files are ignored),
a JSON-lines file of {"id": ..., "text": ...} records (gzip-compressed as ``.jsonl.gz`` too; its
other fields travel to the output), or a Parquet file with ``id`` and ``text`` columns (``parquet.py``;
its other columns travel likewise). Ids must be unique: they are what makes a resumed run write
each document exactly once."""
from pathlib import Path
from typing import Iterator, Optional, Tuple

from ..corpora.brat import read_text
from ..corpora.outputs import read_jsonl
from .parquet import is_parquet, parquet_ids, read_parquet_notes


def note_ids(source: Path) -> Iterator[str]:
    """The ids ``read_notes`` will yield, without reading the texts of a folder (for the progress total)."""
    source = Path(source)
    if source.is_dir():
        return (f.relative_to(source).with_suffix("").as_posix() for f in sorted(source.rglob("*.txt")))
    if is_parquet(source):
        return parquet_ids(source)
    return (doc_id for doc_id, _, _ in read_notes(source))


def read_notes(source: Path) -> Iterator[Tuple[str, str, Optional[dict]]]:
    """(id, text, the record's other fields or None) in a stable order; a duplicate id is an error
    naming where it occurs."""
    source = Path(source)
    if source.is_dir():
        files = sorted(source.rglob("*.txt"))
        if not files:
            raise ValueError(f"{source}: no .txt files in this folder")
        for path in files:
            yield path.relative_to(source).with_suffix("").as_posix(), read_text(path), None
        return
    if is_parquet(source):
        records, unit = read_parquet_notes(source), "rows"
    elif source.is_file():
        records, unit = jsonl_notes(source), "records"
    else:
        raise FileNotFoundError(f"{source}: no such folder, JSONL or Parquet file")
    seen = {}
    for k, (doc_id, text, extra) in enumerate(records, start=1):
        if doc_id in seen:
            raise ValueError(f"{source}: id {doc_id!r} occurs twice ({unit} {seen[doc_id]} and {k}); "
                             "ids must be unique")
        seen[doc_id] = k
        yield doc_id, text, extra


def jsonl_notes(source: Path) -> Iterator[Tuple[str, str, Optional[dict]]]:
    for record in read_jsonl(source, require=("id", "text")):
        doc_id, text = str(record["id"]), record["text"]
        if not isinstance(text, str):
            raise ValueError(f"{source}: record {doc_id!r}: 'text' must be a string")
        yield doc_id, text, {k: v for k, v in record.items() if k not in ("id", "text", "entities")} or None
