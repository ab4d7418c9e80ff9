"""Evaluate fold models and the ensemble on a test set: one metrics JSON and a Markdown table."""
import json
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

from spacy.cli.evaluate import evaluate


def evaluate_models(models: List[Tuple[str, Path]], data: Path, echo=print) -> Dict[str, Dict]:
    """``spacy evaluate`` scores (strict char-level ``spans_char_*`` included) per named model."""
    results = {}
    for name, path in models:
        echo(f"evaluating {name} ({path}) on {data}")
        scores = evaluate(str(path), data, silent=True)
        results[name] = {key: value for key, value in scores.items()
                         if key.startswith(("spans_char", "ents_", "speed"))}
        echo(f"  strict char F1 {100 * results[name]['spans_char_f']:.2f}")
    return results


def summary(results: Dict[str, Dict], members: List[str]) -> Dict[str, float]:
    f1 = [results[m]["spans_char_f"] for m in members]
    return {"median_member_f": statistics.median(f1), "best_member_f": max(f1), "worst_member_f": min(f1)}


def markdown_table(results: Dict[str, Dict], title: str, detail: str) -> str:
    """Overall P/R/F and words/s per model, then per-type F1 with one column per model."""
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    lines = [f"# {title}", "", "Strict character-level micro scores (an entity is document, label, start, end).", "",
             "| model | P | R | F1 | words/s |", "|---|---:|---:|---:|---:|"]
    for name, s in results.items():
        lines.append(f"| {name} | {pct(s['spans_char_p'])} | {pct(s['spans_char_r'])} | {pct(s['spans_char_f'])} "
                     f"| {s.get('speed', 0):.0f} |")
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
