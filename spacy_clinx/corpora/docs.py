"""Turn brat records into spaCy Docs: exact text, sentence starts, gold entities on tokens.

Every gold entity ends up in ``doc.spans["brat"]`` (nested ones too); ``doc.ents``
holds the non-overlapping subset a tagger can learn. Each entity that could not
be placed is a :class:`~spacy_clinx.corpora.brat.Problem` in the report.
"""
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import filter_spans

from .brat import BratDocument, Problem
from .formats import read_records
from .sentences import set_sentence_starts

GOLD_SPANS_KEY = "brat"


@dataclass
class ConversionReport:
    documents: int = 0
    skipped_documents: int = 0  # unreadable: not UTF-8, or an .ann without its .txt
    entities: int = 0  # text-bound annotations found in the .ann files
    aligned: int = 0  # placed on token boundaries
    in_ents: int = 0  # in doc.ents (after removing overlaps)
    problems: List[Problem] = field(default_factory=list)

    @property
    def alignment_rate(self) -> float:
        return self.aligned / self.entities if self.entities else 1.0

    def counts(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    def summary(self) -> str:
        lines = [
            f"documents: {self.documents}" + (f" (and {self.skipped_documents} unreadable, skipped)"
                                              if self.skipped_documents else ""),
            f"gold entities: {self.entities}, aligned to tokens: {self.aligned} "
            f"({100 * self.alignment_rate:.2f}%), in doc.ents: {self.in_ents}",
        ]
        for kind, n in sorted(self.counts().items()):
            lines.append(f"  {kind}: {n}")
        return "\n".join(lines)


def split_tokens_at(doc: Doc, offsets: Iterable[int]) -> Doc:
    """A copy of ``doc`` whose tokens are also split at the given character offsets.

    Annotators sometimes start an entity inside a word (``DR.Francisco`` annotated
    from ``rancisco``); splitting there keeps the gold span exact instead of dropping it.
    """
    cuts = sorted({o for o in offsets if 0 < o < len(doc.text)})
    inside = [o for o in cuts if not _is_token_boundary(doc, o)]
    if not inside:
        return doc
    words, spaces = [], []
    pending = iter(inside)
    cut = next(pending, None)
    for token in doc:
        start = token.idx
        end = token.idx + len(token.text)
        while cut is not None and cut <= start:
            cut = next(pending, None)
        while cut is not None and start < cut < end:
            words.append(doc.text[start:cut])
            spaces.append(False)
            start = cut
            cut = next(pending, None)
        words.append(doc.text[start:end])
        spaces.append(bool(token.whitespace_))
    return Doc(doc.vocab, words=words, spaces=spaces)


def _is_token_boundary(doc: Doc, offset: int) -> bool:
    token = doc[_token_at(doc, offset)]
    return offset == token.idx or offset == token.idx + len(token.text)


def _token_at(doc: Doc, offset: int) -> int:
    """Index of the token that contains (or starts at) a character offset."""
    lo, hi = 0, len(doc) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if doc[mid].idx <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def brat_to_doc(nlp: Language, record: BratDocument, report: ConversionReport) -> Doc:
    doc = nlp.make_doc(record.text)
    boundaries = [o for ent in record.entities for o in (ent.start, ent.end)]
    doc = split_tokens_at(doc, boundaries)
    set_sentence_starts(doc)
    doc.user_data["doc_id"] = record.id
    if record.meta:
        doc.user_data["meta"] = record.meta
    report.documents += 1
    report.problems.extend(record.problems)
    # Offset or format problems mean the annotation existed but is unusable.
    report.entities += len(record.entities) + sum(
        p.kind in {"offset_mismatch", "discontinuous", "out_of_range", "malformed"} for p in record.problems
    )
    placed = []
    for ent in record.entities:
        span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode="strict")
        if span is None:
            report.problems.append(Problem(record.path, ent.line, ent.id, "unaligned",
                                           f"{ent.label} {ent.start}-{ent.end} {ent.text!r} does not fall on token boundaries"))
            continue
        placed.append((ent, span))
    report.aligned += len(placed)
    doc.spans[GOLD_SPANS_KEY] = [span for _, span in placed]
    ents = filter_spans([span for _, span in placed])
    kept = {(s.start, s.end, s.label_) for s in ents}
    for ent, span in placed:
        if (span.start, span.end, span.label_) not in kept:
            report.problems.append(Problem(record.path, ent.line, ent.id, "overlap",
                                           f"{ent.label} {ent.start}-{ent.end} {ent.text!r} overlaps a longer entity; "
                                           f"kept in doc.spans[{GOLD_SPANS_KEY!r}], not in doc.ents"))
    doc.ents = ents
    report.in_ents += len(ents)
    return doc


def brat_dir_to_docs(nlp: Language, paths: Iterable[Union[str, Path]], report: ConversionReport,
                     fmt: str = "auto") -> Iterator[Doc]:
    """Docs of every readable document of brat folders, PubTator or JSONL files (``fmt``: detected by
    default, see ``formats.py``); unreadable ones and duplicate texts are reported."""
    seen: Dict[str, str] = {}
    for path in paths:
        for record in read_records(path, fmt):
            if not record.readable:
                report.skipped_documents += 1
                report.problems.extend(record.problems)
                continue
            digest = hashlib.sha1(record.text.encode("utf8")).hexdigest()
            if record.text and digest in seen:
                report.problems.append(Problem(record.path, None, None, "duplicate_text",
                                               f"same text as {seen[digest]}; both are kept"))
            seen.setdefault(digest, record.path)
            yield brat_to_doc(nlp, record, report)


def docbin_texts(path: Union[str, Path]) -> List[str]:
    """The texts of a DocBin's documents, in order (no language pipeline needed to read them)."""
    import spacy

    return [doc.text for doc in DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab)]
