"""PubTator (the official format of NCBI-disease and the BioCreative corpora) into plain records.

A document is a title line ``PMID|t|title``, an abstract line ``PMID|a|abstract`` and one
tab-separated line per mention, ``PMID  start  end  mention  type  concept id``, with offsets into
title + " " + abstract; documents are separated by blank lines. Relation lines (four fields) are
reported as ignored, and a mention whose text is not at its offsets as an offset mismatch.
"""
import re
from pathlib import Path
from typing import Iterator, List, Optional, Union

from .brat import BratDocument, BratEntity, Problem, read_text

TITLE_OR_ABSTRACT = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")


def looks_like_pubtator(path: Path) -> bool:
    """The first non-empty line of the file is a ``PMID|t|`` title line."""
    try:
        with Path(path).open(encoding="utf8", errors="replace") as f:
            for line in f:
                if line.strip():
                    match = TITLE_OR_ABSTRACT.match(line.rstrip("\r\n"))
                    return bool(match) and match[2] == "t"
    except OSError:
        return False
    return False


def read_pubtator(path: Union[str, Path]) -> Iterator[BratDocument]:
    """One record per document of a PubTator file; every line that cannot be used is a problem."""
    path = Path(path)
    where = str(path)
    doc: Optional[BratDocument] = None
    parts: List[str] = []

    def finish() -> Optional[BratDocument]:
        if doc is not None and not doc.text:
            doc.problems.append(Problem(where, None, doc.id, "empty_text", "a document without title or abstract"))
        return doc

    for line_no, raw in enumerate(read_text(path).split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        match = TITLE_OR_ABSTRACT.match(line)
        if match:
            pmid, _, content = match.groups()
            if doc is None or pmid != doc.id:
                if doc is not None:
                    yield finish()
                doc, parts = BratDocument(id=pmid, text="", path=where), []
            parts.append(content)
            doc.text = " ".join(parts)
            continue
        fields = line.split("\t")
        if doc is None or fields[0] != doc.id:
            problem = Problem(where, line_no, fields[0], "malformed", f"a line outside its document: {line[:80]!r}")
            if doc is None:
                raise ValueError(str(problem))
            doc.problems.append(problem)
            continue
        if len(fields) == 4:  # PMID relation id1 id2
            doc.problems.append(Problem(where, line_no, fields[0], "ignored", "a relation, not a mention"))
            continue
        if len(fields) < 5:
            doc.problems.append(Problem(where, line_no, fields[0], "malformed", f"not a PubTator mention: {line[:80]!r}"))
            continue
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            doc.problems.append(Problem(where, line_no, fields[0], "malformed", f"offsets are not numbers: {line[:80]!r}"))
            continue
        label, mention = fields[4], fields[3]
        if not (0 <= start < end <= len(doc.text)):
            doc.problems.append(Problem(where, line_no, fields[0], "out_of_range",
                                        f"{label} {start}-{end} outside text of length {len(doc.text)}"))
            continue
        if doc.text[start:end] != mention:
            doc.problems.append(Problem(where, line_no, fields[0], "offset_mismatch",
                                        f"{label} {start}-{end}: the file says {mention!r}, the text has "
                                        f"{doc.text[start:end]!r}"))
            continue
        doc.entities.append(BratEntity(f"L{line_no}", label, start, end, mention, line_no))
    if doc is not None:
        yield finish()
