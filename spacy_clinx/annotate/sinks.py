"""Where annotations go, each able to say which documents it already holds, so a restarted
run skips them, and each writing a document in one step, so a kill never leaves half of one.

JSONL: one line per document, appended with a single write and flushed per batch; a torn
last line (a kill mid-write) is cut off on restart. brat: ``id.txt`` then ``id.ann`` written
aside and renamed; a document counts as written once its .ann exists. Parquet: ``parquet.py``.
"""
import json
import os
from pathlib import Path
from typing import List, Optional, Set, Tuple

from ..corpora.outputs import jsonl_line, read_jsonl, write_brat


class JsonlSink:
    def __init__(self, path: Path, with_text: bool = False):
        self.path = Path(path)
        self.with_text = with_text  # de-identified output: the text travels with its entities
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done = self._recover()
        self.file = self.path.open("a", encoding="utf8")

    def _recover(self) -> Set[str]:
        if not self.path.exists():
            return set()
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # a torn last line from an interrupted run
            with self.path.open("r+b") as f:
                f.truncate(len(complete))
        return {str(record["id"]) for record in read_jsonl(self.path)}

    def write(self, results: List[Tuple[str, str, list]], fields: Optional[List[Optional[dict]]] = None) -> None:
        """``fields``: per result, the input record's other fields, kept in its output line."""
        fields = fields or [None] * len(results)
        self.file.write("".join(jsonl_line(doc_id, entities, text if self.with_text else None, extra)
                                for (doc_id, text, entities), extra in zip(results, fields)))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class BratSink:
    def __init__(self, folder: Path, with_text: bool = False):
        self.folder = Path(folder)
        self.with_text = with_text  # de-identified output: ID.map.json holds each entity's input offsets
        self.folder.mkdir(parents=True, exist_ok=True)
        self.done = {p.relative_to(self.folder).with_suffix("").as_posix() for p in self.folder.rglob("*.ann")}

    def write(self, results: List[Tuple[str, str, list]], fields=None) -> None:
        """brat has no place for a record's other fields: ``fields`` is not written."""
        for doc_id, text, entities in results:
            if self.with_text:  # the offsets map first: the .ann, written last, marks the document done
                map_path = self.folder / f"{doc_id}.map.json"
                map_path.parent.mkdir(parents=True, exist_ok=True)
                map_path.write_text(json.dumps(
                    [{k: e[k] for k in ("label", "start", "end", "source_start", "source_end")} for e in entities]),
                    encoding="utf8")
            write_brat(self.folder, doc_id, text, entities)

    def close(self) -> None:
        pass

    def remove(self) -> None:
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()


def open_sink(output: Path, fmt: str, with_text: bool = False):
    if fmt == "jsonl":
        return JsonlSink(output, with_text)
    if fmt == "brat":
        return BratSink(output, with_text)
    if fmt == "parquet":
        from .parquet import ParquetSink

        return ParquetSink(output, with_text)
    raise ValueError(f"unknown output format {fmt!r}: use jsonl, brat or parquet")
