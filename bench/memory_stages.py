"""Where a long document's memory goes: RSS after each stage of ``clinx_ner`` on one document.

``bench/speed.py`` shows that peak RSS still grows with the document. This splits it up. For each
size, in a fresh process, one document (MEDDOCAN test texts joined, as in ``speed.py``'s scaling) goes
through the component's stages one by one: the spaCy ``Doc``, the subwords, the emissions of all
windows, the whole-document Viterbi pass, the character spans and the entities. After each stage the
freed heap is given back (``malloc_trim``) and two figures are read: the resident size then (the live
data) and the peak since the stage before (the live data plus the stage's transient buffers and the
heap torch freed but glibc kept). Results: ``docs/speed-memory.md``.

    python bench/memory_stages.py MODEL --texts ../shared/corpora/meddocan/test --words 1000 --words 200000
"""
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional

import typer
from common import machine, write_markdown
from speed import clinx_component, long_document, peak_rss_mb, read_texts

STAGES = ["loaded", "spaCy Doc", "subwords", "emissions", "Viterbi", "char spans", "entities"]


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def child(model: str, texts: Path, words: int, threads: int, release_growth_mb: Optional[int]) -> List[Dict]:
    """One document of ``words`` words through the stages; (stage, seconds, live MB, peak MB)."""
    import spacy
    import torch

    from spacy_clinx.tagging.spans import to_char_spans
    from spacy_clinx.memory import release_freed_memory, resident_mb
    from spacy_clinx.model.architecture import get_tagger

    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    ner = clinx_component(nlp)
    if release_growth_mb is not None:
        ner.release_memory_growth_mb = release_growth_mb
    text = long_document(read_texts(texts), words)
    nlp.max_length = len(text) + 1
    list(nlp.pipe([text[:2000]]))  # warm-up
    rows, state = [], {}

    def stage(name, run=lambda: None):
        release_freed_memory()
        reset_peak()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        release_freed_memory()
        rows.append({"stage": name, "seconds": seconds, "live_mb": resident_mb(), "peak_mb": peak_rss_mb()})

    tag_names = get_tagger(ner.model).tag_names
    stage("loaded")
    stage("spaCy Doc", lambda: state.update(doc=nlp.make_doc(text)))
    stage("subwords", lambda: state.update(subwords=ner.subwords([text], [state["doc"]])))
    stage("emissions", lambda: state.update(emissions=ner.emissions(state["subwords"])))
    stage("Viterbi", lambda: state.update(decoded=ner.decode(state["subwords"], state["emissions"],
                                                              with_scores=bool(ner.spans_key))))
    stage("char spans", lambda: state.update(spans=to_char_spans(
        state["subwords"][0], [tag_names[t] for t in state["decoded"][0][0]],
        state["decoded"][1][0] if state["decoded"][1] else None)))
    stage("entities", lambda: ner.set_annotations([state["doc"]], [state["spans"]]))
    return rows


def main(
    model: str = typer.Argument(..., help="a pipeline with clinx_ner"),
    texts: Path = typer.Option(Path("../shared/corpora/meddocan/test")),
    words: List[int] = typer.Option([1_000, 100_000, 200_000], "--words"),
    threads: int = typer.Option(1, help="torch threads"),
    release_growth_mb: Optional[int] = typer.Option(None, help="release_memory_growth_mb (default: the model's)"),
    report: Path = typer.Option(Path("docs/speed-memory.md")),
    child_words: int = typer.Option(0, "--child", hidden=True, help="internal: one document of this many words"),
) -> None:
    if child_words:
        print(json.dumps(child(model, texts, child_words, threads, release_growth_mb)))
        return
    results = {}
    setting = [] if release_growth_mb is None else ["--release-growth-mb", str(release_growth_mb)]
    for size in words:
        out = subprocess.run([sys.executable, __file__, model, "--texts", str(texts), "--threads", str(threads),
                              *setting, "--child", str(size)], capture_output=True, text=True, check=True)
        results[size] = json.loads(out.stdout.strip().splitlines()[-1])
        typer.echo(f"{size} words: " + ", ".join(f"{r['stage']} {r['live_mb']:.0f}/{r['peak_mb']:.0f} MB"
                                                 for r in results[size]))
    lines = ["# Memory by stage of clinx_ner on one long document", "",
             f"Updated {date.today()} on {machine()}, {threads} torch thread(s), model `{model}`. Command:", "",
             f"    python bench/memory_stages.py {model} --texts {texts} --threads {threads} "
             + " ".join([*setting, *(f"--words {w}" for w in words)]), "",
             "Per stage: live MB (resident size after the stage, freed heap given back) / peak MB (highest",
             "resident size during the stage). Stages: " + ", ".join(STAGES) + ". `release_memory_growth_mb`: "
             + ("the model's" if release_growth_mb is None else str(release_growth_mb)) + ".", "",
             "| words | " + " | ".join(STAGES) + " |", "|---:|" + "---:|" * len(STAGES)]
    for size, rows in results.items():
        lines.append(f"| {size:,} | " + " | ".join(f"{r['live_mb']:.0f} / {r['peak_mb']:.0f}" for r in rows) + " |")
    lines += ["", "Seconds per stage:", "", "| words | " + " | ".join(STAGES) + " |", "|---:|" + "---:|" * len(STAGES)]
    for size, rows in results.items():
        lines.append(f"| {size:,} | " + " | ".join(f"{r['seconds']:.2f}" for r in rows) + " |")
    write_markdown(report, lines + [""])


if __name__ == "__main__":
    typer.run(main)
