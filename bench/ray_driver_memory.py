"""The Ray driver's memory does not grow with the input: peak RSS of ``clinx annotate --engine ray``'s
driver process for 20,000 and 200,000 synthetic notes, in one run.

Each size runs the real command in a fresh process and reads that process's own peak resident memory
(``ru_maxrss`` of the driver, read at its exit by a wrapper; Ray's workers are other processes). The
model is the tiny pipeline of ``tests/fixtures/saved`` (the annotator's cost is beside the point: the
driver's is measured), the notes are short synthetic clinical lines. Results go to
``docs/annotate.md``'s table of driver memory (a section the script rewrites).

    python bench/ray_driver_memory.py
"""
import json
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import List

import typer
from common import machine

MODEL = Path("tests/fixtures/saved/clinx_ner-0.1.0")
NAMES = ["Juan Pérez", "María López", "Ana García", "Luis Martín", "Carmen Ruiz"]
DRIVER = """
import resource, runpy, sys
sys.argv = ["spacy_clinx", *sys.argv[1:]]
try:
    runpy.run_module("spacy_clinx", run_name="__main__")
finally:
    print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
START, END = "<!-- ray driver memory: rewritten by bench/ray_driver_memory.py -->", "<!-- end ray driver memory -->"


def write_notes(path: Path, n: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf8") as out:
        for i in range(n):
            text = (f"Paciente {rng.choice(NAMES)}, NHC {rng.randrange(10**6, 10**7)}, de {rng.randrange(18, 95)} "
                    f"años, ingresa el {rng.randrange(1, 29)}/{rng.randrange(1, 13)}/20{rng.randrange(10, 25)} en Madrid.")
            out.write(json.dumps({"id": f"n{i}", "text": text}, ensure_ascii=False) + "\n")


def driver_peak(notes: Path, output: Path, workers: int, chunk_docs: int) -> dict:
    output.unlink(missing_ok=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", DRIVER, "annotate", str(MODEL), str(notes), str(output),
                             "--engine", "ray", "--workers", str(workers), "--chunk-docs", str(chunk_docs)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"annotate failed:\n{result.stderr[-2000:]}")
    peak = next(int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    written = sum(1 for _ in output.open(encoding="utf8"))
    return {"peak_rss_mb": peak / 1024, "written": written, "seconds": time.perf_counter() - start}


def main(sizes: List[int] = typer.Option([20_000, 200_000], "--size"), workers: int = 2, chunk_docs: int = 4096,
         workdir: Path = typer.Option(Path("bench/work/ray_driver")), report: Path = Path("docs/annotate.md")) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        notes = workdir / f"notes-{n}.jsonl"
        if not notes.exists():
            write_notes(notes, n)
        run = driver_peak(notes, workdir / f"out-{n}.jsonl", workers, chunk_docs)
        if run["written"] != n:
            raise SystemExit(f"{n} notes in, {run['written']} out")
        rows.append((n, notes.stat().st_size / 2**20, run))
        print(n, run, flush=True)
    lines = [START, "", f"Measured {date.today()} on {machine()}: `python bench/ray_driver_memory.py` "
             f"(`--engine ray --workers {workers} --chunk-docs {chunk_docs}`, the tiny pipeline of tests/fixtures/saved, "
             "synthetic one-line notes). Peak RSS of the driver process alone (Ray's workers are other processes).", "",
             "| notes | input MB | driver peak RSS MB | seconds |", "|---:|---:|---:|---:|"]
    lines += [f"| {n:,} | {mb:.1f} | {run['peak_rss_mb']:.0f} | {run['seconds']:.0f} |" for n, mb, run in rows]
    lines += ["", END]
    old = report.read_text(encoding="utf8")
    block = "\n".join(lines)
    if START in old:
        new = old[:old.index(START)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip() + "\n\n### Driver memory\n\n" + block + "\n"
    report.write_text(new, encoding="utf8")


if __name__ == "__main__":
    typer.run(main)
