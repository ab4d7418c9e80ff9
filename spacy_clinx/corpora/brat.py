"""Parse brat standoff files (.txt + .ann) into plain records, reporting every defect.

Nothing is dropped silently: an annotation that cannot be used becomes a
:class:`Problem` naming the file, the line and the annotation id.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Union


TEXT_BOUND = re.compile(r"^T\d+$")
NOT_TEXT_BOUND = re.compile(r"^(?:[REAMN]\d+|#\d*|\*)$")


@dataclass(frozen=True)
class BratEntity:
    id: str
    label: str
    start: int
    end: int
    text: str
    line: int


@dataclass(frozen=True)
class Problem:
    """One annotation (or file) that could not be used as it is."""

    path: str
    line: Optional[int]
    ann_id: Optional[str]
    kind: str
    message: str

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        who = f" {self.ann_id}" if self.ann_id else ""
        return f"{where}{who}: {self.kind}: {self.message}"


@dataclass
class BratDocument:
    id: str
    text: str
    entities: List[BratEntity] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    path: str = ""
    readable: bool = True  # False: the text could not be read; no Doc is made from it
    meta: dict = field(default_factory=dict)  # other fields of the source record (JSONL), kept on the Doc


def read_text(path: Path) -> str:
    """Read a .txt exactly as brat counts offsets: UTF-8, newlines untranslated."""
    data = path.read_bytes()
    try:
        return data.decode("utf8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not valid UTF-8 at byte offset {err.start} "
            f"({data[err.start:err.start + 4]!r}); brat offsets are defined over "
            "UTF-8 text, so re-encode the file (e.g. iconv -f latin1 -t utf8)."
        ) from None


def parse_ann(ann_path: Path, text: str) -> "tuple[List[BratEntity], List[Problem]]":
    """Text-bound annotations of one .ann file, checked against the document text."""
    entities: List[BratEntity] = []
    problems: List[Problem] = []
    where = str(ann_path)
    for line_no, raw in enumerate(read_text(ann_path).split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        first_field = line.split("\t", 1)[0]
        if NOT_TEXT_BOUND.match(first_field):
            # Relations, events, attributes, normalizations, notes, equivalences:
            # not concept spans; they are counted, not used.
            problems.append(Problem(where, line_no, first_field, "ignored", "not a text-bound annotation"))
            continue
        if not TEXT_BOUND.match(first_field):
            problems.append(Problem(where, line_no, first_field, "malformed", f"not a brat annotation: {line!r}"))
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            problems.append(Problem(where, line_no, parts[0], "malformed", repr(line)))
            continue
        ann_id, type_and_spans = parts[0], parts[1]
        ann_text = parts[2] if len(parts) > 2 else None
        label, _, spans = type_and_spans.partition(" ")
        if ";" in spans:
            problems.append(Problem(where, line_no, ann_id, "discontinuous",
                                    f"{label} has fragments {spans!r}; only continuous spans are supported"))
            continue
        try:
            start, end = (int(x) for x in spans.split())
        except ValueError:
            problems.append(Problem(where, line_no, ann_id, "malformed", repr(line)))
            continue
        if not (0 <= start < end <= len(text)):
            problems.append(Problem(where, line_no, ann_id, "out_of_range",
                                    f"{label} {start}-{end} outside text of length {len(text)}"))
            continue
        found = text[start:end]
        if ann_text is not None and one_line(found) != ann_text:
            shifted = nearest_occurrence(text, ann_text, start)
            if shifted is None:
                problems.append(Problem(where, line_no, ann_id, "offset_mismatch",
                                        f"{label} {start}-{end}: .ann says {ann_text!r}, .txt has {found!r}"))
                continue
            problems.append(Problem(where, line_no, ann_id, "offset_repaired",
                                    f"{label} {start}-{end}: .txt has {found!r} there; {ann_text!r} is at "
                                    f"{shifted}-{shifted + len(ann_text)}, used instead"))
            start, end, found = shifted, shifted + len(ann_text), ann_text
        entities.append(BratEntity(ann_id, label, start, end, found, line_no))
    return entities, problems


MAX_SHIFT = 3


def one_line(text: str) -> str:
    """An entity's text as brat's tab- and line-delimited text field shows it."""
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ")


def nearest_occurrence(text: str, needle: str, start: int) -> Optional[int]:
    """Where ``needle`` occurs within ``MAX_SHIFT`` characters of ``start`` (nearest first):
    annotation offsets a character or two off (a known defect of some releases)."""
    for shift in sorted(range(-MAX_SHIFT, MAX_SHIFT + 1), key=abs):
        at = start + shift
        if shift and 0 <= at and text[at : at + len(needle)] == needle:
            return at
    return None


def read_brat_document(txt_path: Union[str, Path]) -> BratDocument:
    txt_path = Path(txt_path)
    text = read_text(txt_path)
    doc = BratDocument(id=txt_path.stem, text=text, path=str(txt_path))
    if not text:
        doc.problems.append(Problem(str(txt_path), None, None, "empty_text", "the .txt is empty"))
    ann_path = txt_path.with_suffix(".ann")
    if not ann_path.exists():
        doc.problems.append(Problem(str(txt_path), None, None, "missing_ann",
                                    "no .ann beside this .txt; read as a document without entities"))
        return doc
    doc.text, doc.entities, problems = read_with_matching_text(ann_path, text)
    doc.problems.extend(problems)
    return doc


OFFSET_PROBLEMS = ("offset_mismatch", "offset_repaired", "out_of_range")


def text_readings(text: str) -> List["tuple[str, str]"]:
    """The texts an annotation tool may have counted offsets in: the file as it is, without its
    byte-order mark, with CRLF line ends read as LF."""
    readings = [("as it is", text)]
    no_bom = text[1:] if text.startswith("\ufeff") else None
    if no_bom is not None:
        readings.append(("without its byte-order mark", no_bom))
    if "\r\n" in text:
        readings.append(("with CRLF line ends read as LF", text.replace("\r\n", "\n")))
        if no_bom is not None:
            readings.append(("without its byte-order mark and with CRLF read as LF", no_bom.replace("\r\n", "\n")))
    return readings


def read_with_matching_text(ann_path: Path, text: str) -> "tuple[str, List[BratEntity], List[Problem]]":
    """Parse the .ann against the reading of the text its offsets fit best (the file as it is
    on a tie), and say so when that is not the file as it is."""
    results = []
    for how, reading in text_readings(text):
        entities, problems = parse_ann(ann_path, reading)
        results.append((sum(p.kind in OFFSET_PROBLEMS for p in problems), how, reading, entities, problems))
    misses, how, reading, entities, problems = min(results, key=lambda r: r[0])  # the first of equals: as it is
    if reading is not text:
        problems.insert(0, Problem(str(ann_path), None, None, "text_normalized",
                                   f"offsets fit the .txt read {how} ({results[0][0]} mismatches as it is, {misses} "
                                   f"so); the document text is read that way"))
    return reading, entities, problems


def read_brat_dir(path: Union[str, Path]) -> Iterator[BratDocument]:
    """All documents of a brat directory (recursively), in a stable order.

    A .txt that is not UTF-8, or an .ann without its .txt, cannot be read; it is yielded
    as an unreadable record carrying its problem, so that reports count it.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a directory of brat .txt/.ann files")
    txts = sorted(path.rglob("*.txt"))
    stems = {p.with_suffix("") for p in txts}
    for txt in txts:
        try:
            yield read_brat_document(txt)
        except ValueError as err:  # not UTF-8: the other documents are still read
            yield BratDocument(id=txt.stem, text="", path=str(txt), readable=False,
                               problems=[Problem(str(txt), None, None, "unreadable", str(err))])
    for ann in sorted(path.rglob("*.ann")):
        if ann.with_suffix("") not in stems:
            yield BratDocument(id=ann.stem, text="", path=str(ann), readable=False, problems=[
                Problem(str(ann), None, None, "missing_txt", "no .txt beside this .ann; its entities are not used")])
