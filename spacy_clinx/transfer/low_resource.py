"""Low-resource training sets (paper 4.2): the first n sentences of the training data, in
corpus order, without shuffling. Whole documents are kept while they fit; the document that
crosses n is cut at a sentence boundary, so the subset keeps its document context."""
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Union

import spacy
from spacy.tokens import Doc, DocBin


def n_sentences(doc: Doc) -> int:
    return sum(1 for sent in doc.sents if not all(t.is_space for t in sent))


def first_sentences(docs: Iterable[Doc], n: int) -> Iterator[Doc]:
    """The shortest corpus-order prefix holding ``n`` sentences (blank lines do not count).

    Needs sentence boundaries (set by ``convert``). Entities crossing the cut are dropped with
    the rest of the cut document, never truncated."""
    if n <= 0:
        raise ValueError(f"the number of sentences must be positive, not {n}")
    left = n
    for doc in docs:
        if not doc.has_annotation("SENT_START"):
            raise ValueError(f"document {doc.user_data.get('doc_id', '?')!r} has no sentence boundaries: "
                             "convert the corpus with `python -m spacy_clinx convert`")
        count = n_sentences(doc)
        if count <= left:
            yield doc
            left -= count
        else:
            sents = [s for s in doc.sents if not all(t.is_space for t in s)]
            yield doc[: sents[left - 1].end].as_doc(copy_user_data=True)
            left = 0
        if left == 0:
            return


@dataclass
class Subset:
    requested: int  # sentences asked for
    available: int  # sentences in the corpus
    documents: int
    entities: int

    @property
    def sentences(self) -> int:
        return min(self.requested, self.available)


def write_subset(data: Union[str, Path], output: Union[str, Path], sentences: int, lang: str = "es") -> Subset:
    """Write the first ``sentences`` sentences of the DocBin ``data`` (0: all) to the DocBin ``output``;
    asking for more than it has keeps all. A ValueError (no sentence boundaries) writes nothing."""
    docs = list(DocBin().from_disk(data).get_docs(spacy.blank(lang).vocab))
    available = sum(n_sentences(d) for d in docs)
    requested = sentences or available
    kept = list(first_sentences(docs, requested))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    DocBin(store_user_data=True, docs=kept).to_disk(output)
    return Subset(requested, available, len(kept), sum(len(d.ents) for d in kept))
