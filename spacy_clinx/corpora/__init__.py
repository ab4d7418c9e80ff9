"""Reading annotated corpora (brat standoff) into spaCy Docs without losing entities."""
from .brat import BratDocument, BratEntity, Problem, read_brat_dir, read_brat_document
from .docs import ConversionReport, brat_to_doc, brat_dir_to_docs

__all__ = [
    "BratDocument",
    "BratEntity",
    "Problem",
    "read_brat_dir",
    "read_brat_document",
    "ConversionReport",
    "brat_to_doc",
    "brat_dir_to_docs",
]
