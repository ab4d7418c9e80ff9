"""Corpora for peer taggers that run in their own environments (flair): DocBins become JSONL of
sentences of tokens with character offsets and BIOES tags; the peers' predictions come back as
character spans and are scored with the same strict character-level scorer as clinx_ner.

A record: ``{"id", "text", "sentences": [[[start, end, tag], ...], ...]}``; a prediction:
``{"id", "entities": [[start, end, label], ...]}``.
"""
import json
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.training.iob_utils import doc_to_biluo_tags

BILUO_TO_BIOES = {"B": "B", "I": "I", "L": "E", "U": "S", "O": "O"}


def doc_record(doc: Doc) -> Dict:
    tags = [t if t == "O" else f"{BILUO_TO_BIOES[t[0]]}{t[1:]}" for t in doc_to_biluo_tags(doc)]
    sentences = [[[tok.idx, tok.idx + len(tok), tags[tok.i]] for tok in sent if not tok.is_space]
                 for sent in doc.sents]
    return {"id": doc.user_data.get("doc_id", ""), "text": doc.text, "sentences": [s for s in sentences if s]}


def write_records(docbin: Path, output: Path, vocab) -> int:
    docs = list(DocBin().from_disk(docbin).get_docs(vocab))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf8") as out:
        for doc in docs:
            out.write(json.dumps(doc_record(doc), ensure_ascii=False) + "\n")
    return len(docs)


def score_predictions(docbin: Path, predictions: Path, nlp) -> Dict[str, float]:
    """Strict character-level P/R/F of predicted spans against the DocBin's entities, with the F1's
    bootstrap interval over documents."""
    from common import scores_with_interval  # bench/, on the path of the scripts that score peers

    gold = list(DocBin().from_disk(docbin).get_docs(nlp.vocab))
    predicted = {r["id"]: r["entities"] for r in map(json.loads, predictions.read_text(encoding="utf8").splitlines())}
    examples = []
    for doc in gold:
        doc_id = doc.user_data.get("doc_id", "")
        if doc_id not in predicted:
            raise ValueError(f"{predictions}: no prediction for document {doc_id!r}")
        pred = nlp.make_doc(doc.text)
        pred.ents = spans_on(pred, predicted[doc_id])
        examples.append(Example(pred, doc))
    return scores_with_interval(examples)


def spans_on(doc: Doc, entities: Iterable[Tuple[int, int, str]]) -> List:
    from spacy.util import filter_spans

    spans = [doc.char_span(s, e, label=label, alignment_mode="expand") for s, e, label in entities]
    return filter_spans([s for s in spans if s is not None])
