"""Evaluate fold models and the ensemble on a test set: one metrics JSON and a Markdown table."""
import json
import statistics
import time
from pathlib import Path
from typing import Dict, List

import spacy
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import filter_spans

from ..components.clinx_ensemble import ClinxEnsemble
from ..scoring import score_clinx_ner

MEMBER_SPANS = "member"


def evaluate_ensemble_and_members(ensemble: Path, member_names: List[str], data: Path,
                                  echo=print) -> Dict[str, Dict]:
    """The scores of every member and of the ensemble from one pass of the ensemble over DATA.

    The ensemble keeps each member's entities in ``doc.spans``, decoded from the same windows
    as the member alone decodes them, so the members need not run again: n members cost one
    ensemble pass instead of two. Words/s is measured for the ensemble only."""
    nlp = spacy.load(ensemble)
    voter = next((pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinxEnsemble)), None)
    if voter is None:
        raise ValueError(f"{ensemble} holds no clinx_ensemble component: {nlp.pipe_names}")
    if len(voter.members) != len(member_names):
        raise ValueError(f"{ensemble} has {len(voter.members)} members, not {len(member_names)}: {member_names}")
    voter.member_spans_prefix = MEMBER_SPANS
    examples = list(Corpus(str(data))(nlp))
    echo(f"evaluating the ensemble ({ensemble}) and its {len(member_names)} members on {data}")
    start = time.perf_counter()
    docs = list(nlp.pipe(eg.predicted for eg in examples))
    seconds = time.perf_counter() - start
    results = {}
    for i, name in enumerate(member_names):
        member = [Example(with_ents(doc, doc.spans[f"{MEMBER_SPANS}{i}"]), eg.reference)
                  for doc, eg in zip(docs, examples)]
        results[name] = kept_scores(score_clinx_ner(member))
        echo(f"  {name}: strict char F1 {100 * results[name]['spans_char_f']:.2f}")
    results["ensemble"] = kept_scores(score_clinx_ner([Example(d, eg.reference) for d, eg in zip(docs, examples)]))
    results["ensemble"]["speed"] = sum(len(doc) for doc in docs) / seconds
    echo(f"  ensemble: strict char F1 {100 * results['ensemble']['spans_char_f']:.2f}")
    return results


def with_ents(doc: Doc, spans) -> Doc:
    """A copy of DOC whose entities are SPANS, as a member alone would set them."""
    copy = doc.copy()
    copy.ents = filter_spans([copy.char_span(s.start_char, s.end_char, label=s.label_) for s in spans])
    return copy


def kept_scores(scores: Dict) -> Dict:
    return {key: value for key, value in scores.items() if key.startswith(("spans_char", "ents_", "speed"))}


def summary(results: Dict[str, Dict], members: List[str]) -> Dict[str, float]:
    f1 = [results[m]["spans_char_f"] for m in members]
    return {"median_member_f": statistics.median(f1), "best_member_f": max(f1), "worst_member_f": min(f1)}


def markdown_table(results: Dict[str, Dict], title: str, detail: str) -> str:
    """Overall P/R/F and words/s per model, then per-type F1 with one column per model."""
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    lines = [f"# {title}", "", "Strict character-level micro scores (an entity is document, label, start, end).", "",
             "| model | P | R | F1 | words/s |", "|---|---:|---:|---:|---:|"]
    for name, s in results.items():
        speed = f"{s['speed']:,.0f}" if "speed" in s else "-"
        lines.append(f"| {name} | {pct(s['spans_char_p'])} | {pct(s['spans_char_r'])} | {pct(s['spans_char_f'])} "
                     f"| {speed} |")
    labels = sorted({label for s in results.values() for label in s.get("spans_char_per_type", {})})
    names = list(results)
    lines += ["", "Strict F1 per type:", "", "| type | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    for label in labels:
        cells = [pct(results[n].get("spans_char_per_type", {}).get(label, {}).get("f", 0.0)) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", detail, ""])


def write_report(results: Dict[str, Dict], extra: Dict, json_path: Path, md_path: Path, title: str, detail: str):
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({**extra, "models": results}, indent=2), encoding="utf8")
    md_path.write_text(markdown_table(results, title, detail), encoding="utf8")
