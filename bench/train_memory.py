"""Training memory and time per update of an XLM-R-large-shaped clinx_ner (the paper profile's encoder
size: 24 layers, 1,024 wide, 16 heads), for the settings that bound it: ``windows_per_batch`` (windows
encoded at a time inside ``update``, their gradients accumulated) and ``gradient_checkpointing``.

The encoder has random weights and an 8k-subword tokenizer trained on the fixture texts (the hub
cannot be reached here; memory and time do not depend on the weights). Each setting runs in a fresh
process: initialise, then ``--updates`` updates of one batch of ``--docs`` MEDDOCAN fixture documents
with the paper's windows (centre 200, context 100); the process reports its peak RSS (on CPU) or
peak CUDA memory (``--gpu-id``) and the median seconds per update.

    python bench/train_memory.py --setting 16,false --setting 2,false --setting 2,true [--gpu-id 0]
"""
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import List

import typer

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, write_markdown  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures" / "corpora" / "meddocan"

CHILD = """
import json, resource, statistics, sys, time
import spacy, torch
from spacy.training import Example
from spacy_clinx.corpora import ConversionReport, brat_dir_to_docs
from spacy_clinx.tokenizer import create_char_class_tokenizer
encoder, per_batch, checkpointing, docs, updates, gpu_id = sys.argv[1:7]
if int(gpu_id) >= 0:
    from spacy_clinx.device import use_device
    use_device(int(gpu_id))
nlp = spacy.blank("es")
nlp.tokenizer = create_char_class_tokenizer(nlp)
nlp.add_pipe("clinx_ner", config={"model": {"encoder": encoder, "windows_per_batch": int(per_batch),
                                            "gradient_checkpointing": checkpointing == "true"}})
gold = list(brat_dir_to_docs(nlp, [sys.argv[7]], ConversionReport()))[: int(docs)]
examples = [Example(nlp.make_doc(d.text), d) for d in gold]
optimizer = nlp.initialize(lambda: examples)
seconds = []
for _ in range(int(updates)):
    start = time.perf_counter()
    nlp.update(examples, sgd=optimizer, drop=0.1)
    seconds.append(time.perf_counter() - start)
peak = (torch.cuda.max_memory_allocated() / 2**30 if int(gpu_id) >= 0
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
words = sum(len(d.text.split()) for d in gold)
print(json.dumps({"peak_gib": peak, "seconds_per_update": statistics.median(seconds), "words": words}))
"""


def large_encoder(path: Path) -> Path:
    """An XLM-R-large-shaped encoder with random weights and an 8k Unigram tokenizer of the fixtures."""
    if (path / "config.json").exists():
        return path
    from spacy_clinx.corpora.brat import read_text
    from spacy_clinx.encoders import build_encoder, train_tokenizer

    texts = [read_text(p) for p in sorted(FIXTURES.rglob("*.txt"))]
    tokenizer = train_tokenizer(texts, "xlm-roberta", vocab_size=8000)
    return build_encoder(tokenizer, "xlm-roberta", path, hidden_size=1024, num_layers=24, num_heads=16,
                         intermediate_size=4096, max_positions=512)


def main(
    setting: List[str] = typer.Option(["16,false", "2,false", "2,true"], help="windows_per_batch,gradient_checkpointing"),
    docs: int = typer.Option(4, help="documents per update (the paper profile's batch size)"),
    updates: int = typer.Option(2),
    gpu_id: int = typer.Option(-1),
    workdir: Path = typer.Option(Path("bench/work/train_memory")),
    report: Path = typer.Option(Path("docs/gpu.md")),
) -> None:
    encoder = large_encoder(workdir / "xlmr-large-shaped")
    rows = []
    for s in setting:
        per_batch, checkpointing = s.split(",")
        typer.echo(f"windows_per_batch {per_batch}, gradient_checkpointing {checkpointing} ...")
        result = subprocess.run([sys.executable, "-c", CHILD, str(encoder), per_batch, checkpointing, str(docs),
                                 str(updates), str(gpu_id), str(FIXTURES / "train")], capture_output=True, text=True)
        if result.returncode != 0:
            rows.append({"windows_per_batch": int(per_batch), "gradient_checkpointing": checkpointing,
                         "error": (result.stderr.strip().splitlines() or ["killed"])[-1][:200],
                         "returncode": result.returncode})
        else:
            rows.append({"windows_per_batch": int(per_batch), "gradient_checkpointing": checkpointing,
                         **json.loads(result.stdout.strip().splitlines()[-1])})
        typer.echo(json.dumps(rows[-1]))
    (workdir / "results.json").write_text(json.dumps(rows, indent=1))
    device = f"GPU {gpu_id}" if gpu_id >= 0 else "CPU"
    lines = ["# Training memory of a large encoder", "",
             f"Date: {date.today()}. Machine: {machine()}. Device: {device}. Command:", "", "```bash",
             f"python {' '.join(sys.argv)}", "```", "",
             f"An XLM-R-large-shaped encoder (24 layers, 1,024 wide, 16 heads, 8k vocabulary, random weights), "
             f"{docs} MEDDOCAN fixture documents per update, windows of centre 200 and context 100, {updates} updates "
             f"per setting in a fresh process; peak {'CUDA memory allocated' if gpu_id >= 0 else 'RSS'}.", "",
             "| windows_per_batch | gradient_checkpointing | peak GiB | s / update | words / s |",
             "|---:|---|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['windows_per_batch']} | {r['gradient_checkpointing']} | failed (exit "
                         f"{r['returncode']}: {r['error']}) | | |")
        else:
            lines.append(f"| {r['windows_per_batch']} | {r['gradient_checkpointing']} | {r['peak_gib']:.1f} | "
                         f"{r['seconds_per_update']:.1f} | {r['words'] / r['seconds_per_update']:.0f} |")
    write_markdown(report, lines + [""])


if __name__ == "__main__":
    typer.run(main)
