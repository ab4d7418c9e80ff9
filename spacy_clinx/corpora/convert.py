"""A corpus converted to one DocBin (the ``convert`` command): written only when every input
was read, with each problem kept in the report."""
from pathlib import Path
from typing import Iterable, Union

import spacy
from spacy.tokens import DocBin

from ..tokenizer import create_char_class_tokenizer
from .docs import ConversionReport, brat_dir_to_docs


class ConversionError(ValueError):
    """The conversion cannot start or finish (a wrong output name, a missing or unreadable input,
    no documents); nothing is written."""


def convert_corpus(inputs: Iterable[Union[str, Path]], output: Union[str, Path], lang: str = "es",
                   fmt: str = "auto") -> ConversionReport:
    """Write the documents of ``inputs`` (brat folders, PubTator or JSONL files; ``fmt``: detected
    by default) to the DocBin ``output``, tokenised so that entity boundaries fall between tokens."""
    inputs, output = [Path(p) for p in inputs], Path(output)
    nlp = spacy.blank(lang)
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    if output.suffix != ".spacy":
        raise ConversionError(f"{output}: the output is a DocBin file ending in .spacy (the last argument; the "
                              "others are inputs)")
    for path in inputs:
        if not path.exists():
            raise ConversionError(f"{path}: no such file or folder")
    report = ConversionReport()
    db = DocBin(store_user_data=True)
    try:
        for doc in brat_dir_to_docs(nlp, inputs, report, fmt):
            db.add(doc)
    except (ValueError, FileNotFoundError) as err:
        raise ConversionError(f"{err}; nothing written") from None
    if not report.documents:
        raise ConversionError(f"{', '.join(map(str, inputs))}: no documents to convert; nothing written")
    output.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output)
    return report


def write_empty_docbin(output: Union[str, Path]) -> None:
    """An empty corpus, for an optional input that is absent (the dev/ a user's corpus may lack)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    DocBin(store_user_data=True).to_disk(output)


def write_problems(report: ConversionReport, path: Union[str, Path]) -> None:
    """Every problem as a TSV line: path, line, annotation id, kind, message."""
    Path(path).write_text("".join(f"{p.path}\t{p.line or ''}\t{p.ann_id or ''}\t{p.kind}\t{p.message}\n"
                                  for p in report.problems), encoding="utf8")
