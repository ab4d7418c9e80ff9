"""Strict character-level micro P/R/F: an entity is (document, label, start char, end char).

This is the official metric of the MEDDOCAN/PharmaCoNER/MEDDOPROF shared tasks and
of the paper. Gold comes from ``doc.spans["brat"]`` when present (every gold entity,
nested ones included, as the converter keeps them), else from ``doc.ents``.
"""
from collections import Counter
from typing import Any, Dict, Iterable, Set, Tuple

from spacy.scorer import PRFScore, get_ner_prf
from spacy.training import Example
from spacy.util import registry

from .corpora.docs import GOLD_SPANS_KEY

KEY = "spans_char"  # `spacy evaluate MODEL DATA --spans-key char` prints it


def _char_spans(doc, spans) -> Set[Tuple[str, int, int]]:
    return {(s.label_, s.start_char, s.end_char) for s in spans}


def gold_char_spans(doc) -> Set[Tuple[str, int, int]]:
    spans = doc.spans[GOLD_SPANS_KEY] if GOLD_SPANS_KEY in doc.spans else doc.ents
    return _char_spans(doc, spans)


def _prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    score = PRFScore(tp=tp, fp=fp, fn=fn)
    return {"p": score.precision, "r": score.recall, "f": score.fscore}


def char_strict_prf(examples: Iterable[Example]) -> Dict[str, Any]:
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for eg in examples:
        gold = gold_char_spans(eg.reference)
        pred = _char_spans(eg.predicted, eg.predicted.ents)
        for label, *_ in gold & pred:
            tp[label] += 1
        for label, *_ in pred - gold:
            fp[label] += 1
        for label, *_ in gold - pred:
            fn[label] += 1
    labels = sorted(set(tp) | set(fp) | set(fn))
    total = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {
        f"{KEY}_p": total["p"],
        f"{KEY}_r": total["r"],
        f"{KEY}_f": total["f"],
        f"{KEY}_per_type": {label: _prf(tp[label], fp[label], fn[label]) for label in labels},
        f"{KEY}_counts": {"tp": sum(tp.values()), "fp": sum(fp.values()), "fn": sum(fn.values())},
    }


def score_clinx_ner(examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
    """spaCy's token-level ``ents_*`` scores plus the strict character-level ``spans_char_*``."""
    examples = list(examples)
    scores = get_ner_prf(examples, **kwargs)
    scores.update(char_strict_prf(examples))
    return scores


@registry.scorers("spacy_clinx.ner_scorer.v1")
def make_ner_scorer():
    return score_clinx_ner


@registry.scorers("spacy_clinx.char_strict_scorer.v1")
def make_char_strict_scorer():
    return lambda examples, **kwargs: char_strict_prf(examples)
