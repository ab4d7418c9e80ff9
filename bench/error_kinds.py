"""Where a pipeline's strict-F1 errors come from, on a gold corpus: predicted entities that overlap no
gold entity (spurious), or overlap one without matching it exactly (boundary or label), and gold
entities that no prediction touches (missed) or that one touches wrongly (boundary). With
``--thresholds``, the P/R/F1 left after dropping the entities whose score (a clinx_ner's mean CRF
marginal of its tags) is below each threshold: whether a confidence cut buys F1, and the first decile
and the median of the exact and the wrong entities' scores.

    python bench/error_kinds.py bench/work/accuracy/corpus/ncbi_disease/test.spacy MODEL [MODEL ...] \\
        [--thresholds 0.5,0.7,0.9]
"""
import json
from pathlib import Path
from typing import Dict, List, Set, Tuple

import typer

Entity = Tuple[str, int, int]  # label, start char, end char


def error_kinds(gold: Set[Entity], predicted: Set[Entity]) -> Dict[str, int]:
    """Counts of one document's true positives and its four kinds of error."""
    def touches(entity: Entity, others: Set[Entity]) -> bool:
        return any(o[1] < entity[2] and entity[1] < o[2] for o in others)

    out = {"tp": len(gold & predicted), "fp_spurious": 0, "fp_boundary": 0, "fn_missed": 0, "fn_boundary": 0}
    for entity in predicted - gold:
        out["fp_boundary" if touches(entity, gold) else "fp_spurious"] += 1
    for entity in gold - predicted:
        out["fn_boundary" if touches(entity, predicted) else "fn_missed"] += 1
    return out


def prf(tp: int, n_predicted: int, n_gold: int) -> Dict[str, float]:
    p, r = tp / max(n_predicted, 1), tp / max(n_gold, 1)
    return {"p": round(100 * p, 2), "r": round(100 * r, 2), "f": round(200 * p * r / max(p + r, 1e-9), 2)}


def main(test: Path, models: List[str], thresholds: str = typer.Option("", help="comma-separated scores")) -> None:
    import spacy
    from spacy.tokens import DocBin

    from spacy_clinx.scoring import gold_char_spans

    cuts = [float(t) for t in thresholds.split(",") if t]
    for model in models:
        config = {"components": {"clinx_ner": {"spans_key": "scored"}}} if cuts else {}
        nlp = spacy.load(model, config=config)
        gold_docs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
        counts: Dict[str, int] = {}
        scored: List[Tuple[float, bool]] = []
        n_gold = 0
        for gold_doc, doc in zip(gold_docs, nlp.pipe(d.text for d in gold_docs)):
            gold = gold_char_spans(gold_doc)
            predicted = {(e.label_, e.start_char, e.end_char) for e in doc.ents}
            n_gold += len(gold)
            for key, n in error_kinds(gold, predicted).items():
                counts[key] = counts.get(key, 0) + n
            if cuts:
                group = doc.spans["scored"]
                score = {(s.label_, s.start_char, s.end_char): v for s, v in zip(group, group.attrs["scores"])}
                scored += [(score[e], e in gold) for e in predicted]
        out: Dict = {"model": model, "test": str(test), **counts}
        if cuts:
            import numpy

            out["score_p10_p50"] = {kind: [round(float(numpy.percentile([s for s, ok in scored if ok == right], q)), 3)
                                                for q in (10, 50)] for kind, right in (("exact", True), ("wrong", False))}
            out["thresholds"] = {str(t): prf(sum(ok for s, ok in scored if s >= t), sum(s >= t for s, _ in scored),
                                             n_gold) for t in [0.0, *cuts]}
        print(json.dumps(out))


if __name__ == "__main__":
    typer.run(main)
