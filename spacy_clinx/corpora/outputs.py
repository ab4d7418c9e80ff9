"""Predictions out of spaCy: brat standoff (.txt + .ann) and JSON lines, and readers of them.

Both formats keep exact character offsets into the document text, so they round-trip:
reading what was written gives the same (label, start, end, text) entities. In brat's
text field, line breaks and tabs inside an entity are written as spaces (the format is
line- and tab-delimited); the reader accepts that.
"""
import gzip
import json
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Union

from spacy.tokens import Doc

from ..atomic import written_aside
from .brat import one_line


def doc_entities(doc: Doc, spans_key: Optional[str] = None) -> List[dict]:
    """Entities of ``doc.ents`` with their confidence when ``doc.spans[spans_key]`` has scores."""
    scores = {}
    if spans_key and spans_key in doc.spans:
        group = doc.spans[spans_key]
        scores = {(s.start_char, s.end_char, s.label_): sc for s, sc in zip(group, group.attrs.get("scores", []))}
    return [{"label": e.label_, "start": e.start_char, "end": e.end_char, "text": e.text,
             "score": scores.get((e.start_char, e.end_char, e.label_))} for e in doc.ents]


def ann_text(doc_text: str, entities: Iterable[dict]) -> str:
    lines = []
    for i, e in enumerate(sorted(entities, key=lambda e: (e["start"], e["end"], e["label"])), start=1):
        lines.append(f"T{i}\t{e['label']} {e['start']} {e['end']}\t{one_line(doc_text[e['start'] : e['end']])}\n")
    return "".join(lines)


def write_brat(folder: Union[str, Path], doc_id: str, text: str, entities: Iterable[dict]) -> Path:
    """``folder/doc_id.txt`` (the text, byte for byte), then ``folder/doc_id.ann``, written aside and
    renamed: a document whose ``.ann`` exists is complete. Returns the ``.txt`` path."""
    txt = Path(folder) / f"{doc_id}.txt"
    txt.parent.mkdir(parents=True, exist_ok=True)
    txt.write_bytes(text.encode("utf8"))
    with written_aside(txt.with_suffix(".ann")) as partial:
        partial.write_bytes(ann_text(text, entities).encode("utf8"))
    return txt


def jsonl_line(doc_id: str, entities: Iterable[dict], text: Optional[str] = None,
               fields: Optional[dict] = None) -> str:
    """One output record: ``fields`` (the input record's other fields) first, then id, text, entities."""
    record = {**(fields or {}), "id": doc_id, "entities": list(entities)}
    if text is not None:
        record["text"] = text
    return json.dumps(record, ensure_ascii=False) + "\n"


def read_jsonl(path: Union[str, Path], require: Iterable[str] = ("id",)) -> Iterator[dict]:
    """Records of a JSON-lines file (``.gz``: gzip-compressed), read line by line, so a large file is
    never held in memory; a bad line is an error naming the file and line."""
    return (record for _, record in jsonl_records(path, require))


def jsonl_records(path: Union[str, Path], require: Iterable[str] = ("id",)) -> Iterator["tuple[int, dict]"]:
    """(line number, record) of each non-empty line of :func:`read_jsonl`'s file."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid UTF-8 at byte {err.start} of the line") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
            missing = [key for key in require if key not in record]
            if missing:
                raise ValueError(f"{path}:{line_no}: the record has no {', '.join(map(repr, missing))}")
            yield line_no, record
