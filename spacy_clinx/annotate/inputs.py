"""Notes to annotate: a folder of .txt files (brat folders included; .ann files are ignored),
a JSON-lines file of {"id": ..., "text": ...} records (gzip-compressed as ``.jsonl.gz`` too; its
other fields travel to the output), or Parquet (a file or a folder of them) with ``id`` and ``text`` columns (``parquet.py``;
its other columns travel likewise). Ids must be unique: they are what makes a resumed run write
each document exactly once."""
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple

from ..corpora.brat import read_text
from ..corpora.outputs import read_jsonl
from .parquet import is_parquet, parquet_ids, read_parquet_notes


def note_ids(source: Path) -> Iterator[str]:
    """The ids ``read_notes`` will yield, without reading the texts of a folder (for the progress total)."""
    source = Path(source)
    if is_parquet(source):
        return unique(source, parquet_ids(source), "rows")
    if source.is_dir():
        return (f.relative_to(source).with_suffix("").as_posix() for f in sorted(source.rglob("*.txt")))
    return (doc_id for doc_id, _, _ in read_notes(source))


def unique(source: Path, items: Iterator, unit: str, get_id: Callable = lambda item: item) -> Iterator:
    """``items`` as they come; a duplicate id is an error naming the two positions (1-based)."""
    seen = {}
    for k, item in enumerate(items, start=1):
        doc_id = get_id(item)
        if doc_id in seen:
            raise ValueError(f"{source}: id {doc_id!r} occurs twice ({unit} {seen[doc_id]} and {k}); "
                             "ids must be unique")
        seen[doc_id] = k
        yield item


def read_notes(source: Path) -> Iterator[Tuple[str, str, Optional[dict]]]:
    """(id, text, the record's other fields or None) in a stable order; a duplicate id is an error
    naming where it occurs."""
    source = Path(source)
    if is_parquet(source):
        records, unit = read_parquet_notes(source), "rows"
    elif source.is_dir():
        files = sorted(source.rglob("*.txt"))
        if not files:
            raise ValueError(f"{source}: no .txt files (or .parquet files) in this folder")
        for path in files:
            yield path.relative_to(source).with_suffix("").as_posix(), read_text(path), None
        return
    elif source.is_file():
        records, unit = jsonl_notes(source), "records"
    else:
        raise FileNotFoundError(f"{source}: no such folder, JSONL or Parquet file")
    yield from unique(source, records, unit, get_id=lambda record: record[0])


def jsonl_notes(source: Path) -> Iterator[Tuple[str, str, Optional[dict]]]:
    for record in read_jsonl(source, require=("id", "text")):
        doc_id, text = str(record["id"]), record["text"]
        if not isinstance(text, str):
            raise ValueError(f"{source}: record {doc_id!r}: 'text' must be a string")
        yield doc_id, text, {k: v for k, v in record.items() if k not in ("id", "text", "entities")} or None
