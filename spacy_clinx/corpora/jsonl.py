"""JSON lines with character spans (doccano / Prodigy-style exports) into plain records.

One document per line: ``{"text": ..., "spans": [{"start", "end", "label"}, ...]}``; doccano's
``"label": [[start, end, label], ...]`` and ``"entities": [{"start_offset", "end_offset", "label"}]``
are read too. ``id`` (else ``meta.id``, else the file name and line number) names the document;
every other field is kept as its metadata (``doc.user_data["meta"]``).
"""
from pathlib import Path
from typing import Iterator, Union

from .brat import BratDocument, BratEntity, Problem
from .outputs import jsonl_records

SPAN_FIELDS = ("spans", "label", "entities")


def read_span_jsonl(path: Union[str, Path]) -> Iterator[BratDocument]:
    path = Path(path)
    where = str(path)
    for line_no, record in jsonl_records(path, require=()):
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{where}:{line_no}: the record has no \"text\" string")
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        doc_id = str(record.get("id", meta.get("id", f"{path.stem}:{line_no}")))
        field = next((f for f in SPAN_FIELDS if f in record), None)
        spans = record.get(field) or [] if field else []
        doc = BratDocument(id=doc_id, text=text, path=where,
                           meta={k: v for k, v in record.items() if k not in ("text", "id", field)})
        if not text:
            doc.problems.append(Problem(where, line_no, doc_id, "empty_text", "the text is empty"))
        for k, span in enumerate(spans if isinstance(spans, list) else [spans]):
            if isinstance(span, dict):
                start, end = span.get("start", span.get("start_offset")), span.get("end", span.get("end_offset"))
                label = span.get("label")
            elif isinstance(span, (list, tuple)) and len(span) == 3:
                start, end, label = span
            else:
                start = end = label = None
            name = f"{field}[{k}]"
            if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str) and label):
                doc.problems.append(Problem(where, line_no, name, "malformed",
                                            f"a span needs integer start and end and a label: {span!r:.80}"))
                continue
            if not (0 <= start < end <= len(text)):
                doc.problems.append(Problem(where, line_no, name, "out_of_range",
                                            f"{label} {start}-{end} outside text of length {len(text)}"))
                continue
            doc.entities.append(BratEntity(name, label, start, end, text[start:end], line_no))
        yield doc
