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
from collections import Counter
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


def parse_cuts(thresholds: str) -> List[float]:
    try:
        return [float(t) for t in thresholds.split(",") if t]
    except ValueError:
        raise typer.BadParameter(f"--thresholds {thresholds!r}: give comma-separated numbers, e.g. 0.5,0.9")


def main(test: Path = typer.Argument(..., exists=True, dir_okay=False),
         models: List[Path] = typer.Argument(..., exists=True, file_okay=False),
         thresholds: str = typer.Option("", help="comma-separated scores")) -> None:
    import spacy
    from spacy.tokens import DocBin

    from spacy_clinx.scoring import _char_spans, _prf, gold_char_spans

    cuts = parse_cuts(thresholds)
    for model in models:
        config = {"components": {"clinx_ner": {"spans_key": "scored"}}} if cuts else {}
        nlp = spacy.load(model, config=config)
        gold_docs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
        counts: Counter = Counter()
        scored: List[Tuple[float, bool]] = []
        n_gold = 0
        for gold_doc, doc in zip(gold_docs, nlp.pipe(d.text for d in gold_docs)):
            gold = gold_char_spans(gold_doc)
            predicted = _char_spans(doc, doc.ents)
            n_gold += len(gold)
            counts.update(error_kinds(gold, predicted))
            if cuts:
                group = doc.spans["scored"]
                score = {(s.label_, s.start_char, s.end_char): v for s, v in zip(group, group.attrs["scores"])}
                scored += [(score[e], e in gold) for e in predicted]
        out: Dict = {"model": str(model), "test": str(test), **counts}
        if cuts:
            import numpy

            out["score_p10_p50"] = {}
            for kind, right in (("exact", True), ("wrong", False)):
                values = [s for s, ok in scored if ok == right]
                out["score_p10_p50"][kind] = [round(float(numpy.percentile(values, q)), 3) for q in (10, 50)] if values else None
            out["thresholds"] = {}
            for t in [0.0, *cuts]:
                tp = sum(ok for s, ok in scored if s >= t)
                kept = _prf(tp, sum(s >= t for s, _ in scored) - tp, n_gold - tp)
                out["thresholds"][str(t)] = {k: round(100 * v, 2) for k, v in kept.items()}
        print(json.dumps(out))


if __name__ == "__main__":
    typer.run(main)
