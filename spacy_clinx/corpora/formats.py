"""The annotated formats users have, read into the same records as brat: brat folders, PubTator
files and JSON lines with character spans. The format is detected, or given."""
from pathlib import Path
from typing import Iterator, List, Union

from .brat import BratDocument, read_brat_dir
from .jsonl import read_span_jsonl
from .pubtator import looks_like_pubtator, read_pubtator

FORMATS = ("brat", "pubtator", "jsonl")


def detect_format(path: Union[str, Path]) -> str:
    """brat for a folder of .txt/.ann; jsonl for .jsonl files; pubtator for files whose first line
    is a ``PMID|t|`` title (a file, or a folder of them without .ann files)."""
    path = Path(path)
    if path.is_file():
        if path.suffix in (".jsonl", ".json"):
            return "jsonl"
        if looks_like_pubtator(path):
            return "pubtator"
        raise ValueError(f"{path}: neither JSON lines (.jsonl) nor PubTator (a first line PMID|t|title); "
                         "a brat corpus is a folder of .txt/.ann files")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if any(path.rglob("*.ann")):
        return "brat"
    if any(path.rglob("*.jsonl")):
        return "jsonl"
    if next(pubtator_files(path), None) is not None:
        return "pubtator"
    return "brat"


def pubtator_files(folder: Path) -> Iterator[Path]:
    """The .txt and .pubtator files under ``folder`` whose first line is a PubTator title, in order."""
    return (p for p in sorted(folder.rglob("*.txt")) + sorted(folder.rglob("*.pubtator")) if looks_like_pubtator(p))


def read_records(path: Union[str, Path], fmt: str = "auto") -> Iterator[BratDocument]:
    """The documents of a file or folder in ``fmt`` (``auto``: detected)."""
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "brat":
        yield from read_brat_dir(path)
        return
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use auto or one of {', '.join(FORMATS)}")
    for file in format_files(path, fmt):
        yield from (read_span_jsonl(file) if fmt == "jsonl" else read_pubtator(file))


def format_files(path: Path, fmt: str) -> List[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if fmt == "jsonl":
        return sorted(path.rglob("*.jsonl"))
    return list(pubtator_files(path))
