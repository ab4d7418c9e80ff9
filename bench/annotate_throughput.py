"""Throughput of ``clinx annotate``: one process, ``--n-process 2`` and Ray with 2 workers, in one run.

The MEDDOCAN test texts are replicated to N notes (default 10,000) in a JSONL file; each engine
annotates all of them through the real command line in a fresh process, and the three outputs are
compared document by document. Results go to ``docs/annotate-throughput.md``. Finished engines are
kept in ``WORKDIR/results.json``, so a stopped benchmark resumes with the engine it was running.

    python bench/annotate_throughput.py MODEL --texts ../shared/corpora/meddocan/test
"""
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Dict, List

import typer
from common import machine, write_markdown

from spacy_clinx.corpora.brat import read_text
from spacy_clinx.corpora.outputs import read_jsonl

ENGINES = {
    "one process": [],
    "--n-process 2": ["--n-process", "2"],
    "Ray, 2 workers": ["--engine", "ray", "--workers", "2"],
}


def write_notes(texts: Path, n_docs: int, path: Path) -> int:
    """N notes cycling through the folder's texts, ids ``name~k`` unique; returns the word count."""
    originals = [(f.stem, read_text(f)) for f in sorted(texts.glob("*.txt"))]
    if not originals:
        raise typer.BadParameter(f"{texts}: no .txt files")
    words = 0
    with path.open("w", encoding="utf8") as out:
        for i in range(n_docs):
            name, text = originals[i % len(originals)]
            out.write(json.dumps({"id": f"{name}~{i // len(originals)}", "text": text}, ensure_ascii=False) + "\n")
            words += len(text.split())
    return words


def entities_by_id(path: Path) -> Dict[str, List[tuple]]:
    return {r["id"]: [(e["label"], e["start"], e["end"], e["text"]) for e in r["entities"]] for r in read_jsonl(path)}


def main(
    model: str = typer.Argument(..., help="pipeline folder or package name"),
    texts: Path = typer.Option(Path("../shared/corpora/meddocan/test"), help="folder of .txt notes to replicate"),
    n_docs: int = typer.Option(10_000, help="notes to annotate per engine"),
    batch_size: int = typer.Option(32),
    workdir: Path = typer.Option(Path("bench/work/annotate"), help="notes, outputs and finished results"),
    report: Path = typer.Option(Path("docs/annotate-throughput.md")),
    about: str = typer.Option("", help="what MODEL is (how it was trained), for the report"),
) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    notes = workdir / f"notes-{n_docs}.jsonl"
    words = write_notes(texts, n_docs, notes)
    results_path = workdir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if results.get("_setup") != [model, n_docs, batch_size]:
        results = {"_setup": [model, n_docs, batch_size]}
    for name, options in ENGINES.items():
        if name in results:
            typer.echo(f"{name}: done before ({results[name]['wall_s']:.0f} s)")
            continue
        output = workdir / f"{name.replace(' ', '_').replace(',', '').replace('-', '')}.jsonl"
        output.unlink(missing_ok=True)
        command = [sys.executable, "-m", "spacy_clinx", "annotate", model, str(notes), str(output),
                   "--batch-size", str(batch_size), *options]
        typer.echo(f"{name}: {' '.join(command[1:])}")
        rss = workdir / "rss.txt"
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *command], stdout=subprocess.PIPE,
                              text=True, check=True)
        wall = time.perf_counter() - start
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        results[name] = {"wall_s": wall, "loop_s": stats["seconds"], "written": stats["written"],
                         "peak_rss_mb": int(rss.read_text().split()[-1]) / 1024, "output": str(output)}
        results_path.write_text(json.dumps(results, indent=1))
    reference = entities_by_id(Path(results["one process"]["output"]))
    lines = [
        "# `clinx annotate` throughput", "",
        f"Date: {date.today()}. Machine: {machine()}. Model: `{model}`. "
        f"{n_docs:,} notes ({words:,} whitespace words): the MEDDOCAN test texts in `{texts}` replicated. "
        f"Batch size {batch_size}.", *([about] if about else []), "",
        "Command:", "", "```bash",
        f"python bench/annotate_throughput.py {model} --texts {texts} --n-docs {n_docs} --batch-size {batch_size}"
        + (" --about '...'" if about else ""),
        "```", "",
        "Wall time is the whole command (start, model loading, Ray start-up, writing); the rates use it.",
        "The annotate loop time excludes start-up. Identical: every note has the same entities (label, start,",
        "end, text) as in the one-process output. Peak RSS: the largest single process the command waited for",
        "(GNU time `%M`): the annotating process itself, or the largest `--n-process` worker; for Ray, the",
        "driver or a Ray system process, not the actors, which are children of the raylet.", "",
        "| engine | wall s | docs/s | words/s | ratio to one process | loop s | peak RSS MB | identical |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    base = results["one process"]["wall_s"]
    for name in ENGINES:
        r = results[name]
        got = entities_by_id(Path(r["output"]))
        identical = got == reference and len(got) == n_docs
        lines.append(f"| {name} | {r['wall_s']:.0f} | {n_docs / r['wall_s']:.1f} | {words / r['wall_s']:,.0f} | "
                     f"{base / r['wall_s']:.2f} | {r['loop_s']:.0f} | {r['peak_rss_mb']:,.0f} | "
                     f"{'yes' if identical else 'NO'} |")
    write_markdown(report, lines)


if __name__ == "__main__":
    typer.run(main)
