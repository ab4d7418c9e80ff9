"""Low-resource training sets (paper 4.2): the first n sentences of the training data, in
corpus order, without shuffling. Whole documents are kept while they fit; the document that
crosses n is cut at a sentence boundary, so the subset keeps its document context."""
from typing import Iterable, Iterator

from spacy.tokens import Doc


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

