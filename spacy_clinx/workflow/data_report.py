"""What a corpus holds, before hours of training on it (like ``spacy debug data``): documents, words
and entities per split and label, entity lengths, nested and overlapping gold entities, labels of
dev/test that train lacks, and the conversion problems by kind (the ``*-problems.tsv`` files that
``convert --problems`` writes beside the DocBins)."""
import csv
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Dict, List

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..corpora.docs import GOLD_SPANS_KEY

SPLITS = ("train", "dev", "test")
LENGTH_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, None))


def bucket_name(low: int, high) -> str:
    return str(low) if low == high else (f"{low}+" if high is None else f"{low}-{high}")


def split_stats(docs: List[Doc]) -> Dict:
    """Counts of one split; entity lengths are in tokens of the gold spans (``doc.spans['brat']``)."""
    labels: Counter = Counter()
    lengths: List[int] = []
    nested = overlapping = 0
    for doc in docs:
        spans = list(doc.spans[GOLD_SPANS_KEY]) if GOLD_SPANS_KEY in doc.spans else list(doc.ents)
        labels.update(span.label_ for span in spans)
        lengths.extend(len(span) for span in spans)
        for i, a in enumerate(spans):
            for b in spans[i + 1:]:
                if a.start < b.end and b.start < a.end:
                    inside = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
                    nested += inside
                    overlapping += not inside
    buckets = {bucket_name(lo, hi): sum(1 for n in lengths if n >= lo and (hi is None or n <= hi))
               for lo, hi in LENGTH_BUCKETS}
    return {"documents": len(docs), "words": sum(1 for doc in docs for t in doc if not t.is_space),
            "entities": sum(labels.values()), "labels": dict(sorted(labels.items())),
            "entity_tokens": {"median": statistics.median(lengths) if lengths else 0,
                              "max": max(lengths, default=0), "buckets": buckets},
            "nested_pairs": nested, "overlapping_pairs": overlapping}


def problem_counts(path: Path) -> Dict[str, int]:
    """Problems by kind in a ``convert --problems`` TSV (path, line, id, kind, message)."""
    if not path.exists():
        return {}
    with path.open(encoding="utf8", newline="") as f:
        return dict(sorted(Counter(row[3] for row in csv.reader(f, delimiter="\t") if len(row) >= 4).items()))


def data_report(corpus_dir: Path) -> Dict:
    """The report of ``corpus_dir/{train,dev,test}.spacy`` (dev and test optional)."""
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / "train.spacy").exists():
        raise FileNotFoundError(f"{corpus_dir / 'train.spacy'} is missing: run the convert step first")
    vocab = Vocab()
    report: Dict = {"splits": {}, "problems": {}}
    for split in SPLITS:
        path = corpus_dir / f"{split}.spacy"
        if path.exists():
            report["splits"][split] = split_stats(list(DocBin().from_disk(path).get_docs(vocab)))
            report["problems"][split] = problem_counts(corpus_dir / f"{split}-problems.tsv")
    train_labels = set(report["splits"]["train"]["labels"])
    report["unseen_labels"] = {split: sorted(set(s["labels"]) - train_labels)
                               for split, s in report["splits"].items() if split != "train"}
    return report


def report_markdown(report: Dict, title: str) -> str:
    splits = list(report["splits"])
    labels = sorted({label for s in report["splits"].values() for label in s["labels"]})
    row = lambda name, values: f"| {name} | " + " | ".join(str(v) for v in values) + " |"  # noqa: E731
    lines = [f"# {title}", "", "| | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for key in ("documents", "words", "entities", "nested_pairs", "overlapping_pairs"):
        lines.append(row(key.replace("_", " "), [report["splits"][s][key] for s in splits]))
    lines.append(row("median entity tokens", [report["splits"][s]["entity_tokens"]["median"] for s in splits]))
    lines.append(row("longest entity tokens", [report["splits"][s]["entity_tokens"]["max"] for s in splits]))
    for bucket in report["splits"][splits[0]]["entity_tokens"]["buckets"]:
        lines.append(row(f"entities of {bucket} tokens",
                         [report["splits"][s]["entity_tokens"]["buckets"][bucket] for s in splits]))
    for label in labels:
        lines.append(row(f"`{label}`", [report["splits"][s]["labels"].get(label, 0) for s in splits]))
    kinds = sorted({k for p in report["problems"].values() for k in p})
    for kind in kinds:
        lines.append(row(f"problem: {kind}", [report["problems"][s].get(kind, 0) for s in splits]))
    lines.append("")
    for split, unseen in report["unseen_labels"].items():
        if unseen:
            lines.append(f"- {split} has labels that train lacks (no model can predict them): "
                         + ", ".join(f"`{u}`" for u in unseen))
    return "\n".join(lines) + "\n"


def write_data_report(corpus_dir: Path, output: Path, title: str) -> Dict:
    """``output`` (JSON) and the same path with ``.md``."""
    report = data_report(corpus_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf8")
    output.with_suffix(".md").write_text(report_markdown(report, title), encoding="utf8")
    return report
