"""Inference speed of clinx_ner: words/s, overhead against the bare encoder, and scaling.

All timings are taken in one run, alternating the systems, with torch's threads fixed; each figure
is the median of ``--repeats`` runs. Results go to ``docs/speed.md`` (with date, machine, versions
and the command) and to ``bench/work/speed/results.json``.

- **Throughput**: whole MEDDOCAN test documents through ``nlp.pipe`` (one model, and the ensemble),
  and through the peers when their trained models are given (``bench/accuracy.py`` trains them):
  Hugging Face ``pipeline("token-classification", aggregation_strategy="first", stride=...)``,
  flair (in its own virtualenv; its own timing of ``predict``, loading excluded), spaCy's
  transformer + ``ner`` and spaCy's CNN ``ner`` (no transformer: the CPU alternative).
- **Overhead**: ``nlp.pipe`` time divided by the time of the bare encoder forward pass
  (``torch.inference_mode``) over exactly the windows clinx_ner encodes for the same documents.
  The rest (tokenisation, windowing, padding, CRF decoding, span mapping) is the overhead.
- **Speed options and their accuracy cost**: clinx_ner with ``cpu_bf16`` (bfloat16 autocast of the
  encoder), with ``cpu_int8`` (the encoder exported to ONNX Runtime and quantized to int8, one window
  per encoder pass), with ``cpu_onnx`` (the same export in float32; the export, at the first prediction,
  is untimed), with ``release_memory_growth_mb`` 0 (what giving freed memory back costs) and with
  ``--centre N`` (windows of N tagged subwords; the context as saved, or ``--context M``; in float32, and in
  int8 unless ``--no-int8``), timed beside the model as saved; with ``--gold`` (the test DocBin), the strict character F1 of each.
- **Scaling**: one document of 1k, 10k, 100k and 200k words (test texts joined), each in a fresh
  process: time per word and peak RSS with ``release_memory_growth_mb`` 0 (never give freed memory
  back) and ``--release-growth-mb`` (the component's default, 256), the two alternated per size;
  then the 100k-word document in one ``nlp.pipe`` batch with 31 test notes, whose peak RSS shows
  whether a long document makes its batch-mates cost memory in proportion to its length.

    python bench/speed.py MODEL [--ensemble ENSEMBLE] [--hf-model DIR] [--flair-model FILE]
                          [--spacy-trf-model DIR] [--spacy-cnn-model DIR] --texts ../shared/corpora/meddocan/test
"""
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Callable, Dict, List, Optional

import typer
from common import machine, require_flair, run_flair_peer, strict_scores, write_markdown

MATES = 31  # a batch of 32 documents, nlp.pipe's usual size
SIZES = (1_000, 10_000, 100_000, 200_000)


def read_texts(folder: Path) -> List[str]:
    from spacy_clinx.corpora.brat import read_text

    texts = [read_text(f) for f in sorted(folder.glob("*.txt"))]
    if not texts:
        raise typer.BadParameter(f"{folder}: no .txt files")
    return texts


def system_name(model: str) -> str:
    """A trained pipeline's system folder (``.../SYSTEM/model-best`` -> SYSTEM), else the path as given."""
    return Path(model).parent.name if Path(model).name.startswith("model-") else model


def n_words(texts: List[str]) -> int:
    return sum(len(t.split()) for t in texts)


def clinx_component(nlp):
    from spacy_clinx.components.clinx_ner import find_clinx_component

    return find_clinx_component(nlp)


def window_settings(model: str, **sizes: int) -> Dict[str, int]:
    """Config overrides of a saved pipeline's window ``centre``/``context`` (v2 keeps them in its windows block)."""
    import spacy

    block = spacy.util.load_config(Path(model) / "config.cfg", interpolate=False)["components"]["clinx_ner"]["model"]
    prefix = "components.clinx_ner.model." + ("windows." if isinstance(block.get("windows"), dict) else "")
    return {prefix + name: size for name, size in sizes.items()}


def encoder_only(nlp, texts: List[str]) -> Callable[[], None]:
    """The bare encoder over exactly the windows clinx_ner encodes for ``texts``, batches prebuilt."""
    import torch

    from spacy_clinx.model.architecture import get_tagger
    from spacy_clinx.windows import length_sorted_batches, make_batch

    ner = clinx_component(nlp)
    encoder = get_tagger(ner.model).encoder
    docs = ner.subwords(texts, [nlp.make_doc(t) for t in texts])  # spaCy tokens: for token features
    special = ner.special()
    batches = [make_batch(batch, docs, special) for batch in length_sorted_batches(ner.model.windows(docs),
                                                                                   ner.model.windows_per_batch)]
    tensors = [(torch.from_numpy(b.input_ids), torch.from_numpy(b.attention_mask)) for b in batches]

    def run() -> None:
        # thinc's PyTorchShim.predict puts the module back in training mode after every
        # call, so eval() here, at every run: dropout would make the bare loop the slower one
        encoder.eval()
        with torch.inference_mode():
            for ids, mask in tensors:
                encoder(input_ids=ids, attention_mask=mask)

    return run


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """``fn`` made to return its wall time."""
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def flair_system(model: str, texts_dir: Path, work: Path, threads: int) -> Callable[[], float]:
    """flair's predict over the same documents, in its virtualenv; returns flair's own timing."""
    require_flair()
    sys.path.insert(0, str(Path(__file__).parent / "peers"))
    import spacy
    from exchange import doc_record

    from spacy_clinx.corpora.sentences import set_sentence_starts
    from spacy_clinx.tokenizer import create_char_class_tokenizer

    nlp = spacy.blank("es")
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    records = work / "flair-input.jsonl"
    with records.open("w", encoding="utf8") as out:
        for i, text in enumerate(read_texts(texts_dir)):
            record = doc_record(set_sentence_starts(nlp.make_doc(text)))
            out.write(json.dumps({**record, "id": str(i)}, ensure_ascii=False) + "\n")

    def run() -> float:
        return run_flair_peer("predict", model, records, work / "flair.jsonl", "--threads", threads)["predict_seconds"]

    return run


def long_document(notes: List[str], words: int) -> str:
    """One document of ``words`` words: the test notes joined, repeated as often as needed."""
    pool = " ".join(notes).split(" ")
    return " ".join((pool * (words // len(pool) + 1))[:words])


def scaling_child(model: str, texts_dir: Path, words: int, threads: int, release_growth_mb: int, mates: int) -> None:
    """In a fresh process: one document of ``words`` words, piped in one batch with the first
    ``mates`` test notes; prints seconds and peak RSS (MB)."""
    import spacy
    import torch

    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    clinx_component(nlp).release_memory_growth_mb = release_growth_mb
    notes = read_texts(texts_dir)
    text = long_document(notes, words)
    nlp.max_length = len(text) + 1
    list(nlp.pipe([text[:2000]]))  # warm-up
    batch = notes[:mates] + [text]
    seconds = timed(lambda: list(nlp.pipe(batch, batch_size=len(batch))))()
    print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb()}))


def scaling_rows(model: str, texts: Path, threads: int, release_growth_mb: int) -> List[Dict]:
    """Each size in fresh processes: never releasing freed memory, then (if ``release_growth_mb``) releasing it;
    last, the 100k-word document in one ``nlp.pipe`` batch with ``MATES`` ordinary notes."""
    settings = [0, release_growth_mb] if release_growth_mb else [0]
    rows = []
    runs = [(size, setting, 0) for size in SIZES for setting in settings] + [(100_000, release_growth_mb, MATES)]
    for size, setting, mates in runs:
        out = subprocess.run([sys.executable, __file__, model, "--texts", str(texts), "--threads", str(threads),
                              "--release-growth-mb", str(setting), "--child", str(size), "--mates", str(mates)],
                             capture_output=True, text=True, check=True)
        rows.append({"words": size, "release_growth_mb": setting, "mates": mates,
                     **json.loads(out.stdout.strip().splitlines()[-1])})
        typer.echo(f"{size} words{f' + {mates} notes' if mates else ''}, release_memory_growth_mb {setting}: "
                   f"{rows[-1]['seconds']:.1f} s, peak RSS {rows[-1]['rss_mb']:.0f} MB")
    return rows


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's ``ru_maxrss`` survives ``exec``, so a child started by a
    big parent would report the parent's size; ``VmHWM`` belongs to the new process image."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(
    model: str = typer.Argument(..., help="a pipeline with clinx_ner"),
    ensemble: Optional[str] = typer.Option(None, help="a pipeline with clinx_ensemble"),
    compare: Optional[str] = typer.Option(None, help="another clinx_ner pipeline timed beside MODEL (e.g. an older "
                                          "default)"),
    hf_model: Optional[str] = typer.Option(None, help="a Hugging Face token-classification model folder"),
    flair_model: Optional[str] = typer.Option(None, help="a flair SequenceTagger .pt (bench/work/venv-flair)"),
    spacy_trf_model: Optional[str] = typer.Option(None, help="a spaCy transformer + ner pipeline"),
    bf16: bool = typer.Option(True, help="also clinx_ner with cpu_bf16 (bfloat16 autocast)"),
    int8: bool = typer.Option(True, help="also clinx_ner with cpu_int8 (the encoder in ONNX Runtime's int8; "
                              "spacy-clinx[onnx])"),
    onnx: bool = typer.Option(True, help="also clinx_ner with cpu_onnx (the encoder in ONNX Runtime, float32)"),
    spacy_cnn_models: List[str] = typer.Option([], "--spacy-cnn-model", help="a spaCy CNN tok2vec + ner pipeline "
                                               "(bench/accuracy.py's spacy-cnn or spacy-cnn-efficiency): the CPU "
                                               "alternative users have; repeatable, scored with --gold too"),
    centre: int = typer.Option(0, help="also clinx_ner with windows of this many tagged subwords (0: no)"),
    context: int = typer.Option(-1, help="with --centre: also this many subwords of context on each side (-1: as saved)"),
    gold: Optional[Path] = typer.Option(None, help="test DocBin of --texts: strict F1 of each clinx_ner option"),
    texts: Path = typer.Option(Path("../shared/corpora/meddocan/test")),
    repeats: int = typer.Option(3),
    threads: int = typer.Option(2, help="torch threads"),
    batch_size: int = typer.Option(32, help="nlp.pipe batch size"),
    scaling: bool = typer.Option(True, help="also the 1k-200k word documents"),
    release_growth_mb: int = typer.Option(256, help="scaling also with release_memory_growth_mb of this many MB (0: no)"),
    report: Path = typer.Option(Path("docs/speed.md")),
    workdir: Path = typer.Option(Path("bench/work/speed")),
    child: int = typer.Option(0, "--child", hidden=True, help="internal: one scaling document of this many words"),
    mates: int = typer.Option(0, "--mates", hidden=True, help="internal: test notes piped with the --child document"),
) -> None:
    if child:
        return scaling_child(model, texts, child, threads, release_growth_mb, mates)
    import spacy
    import torch
    import transformers

    torch.set_num_threads(threads)
    notes = read_texts(texts)
    words = n_words(notes)
    nlp = spacy.load(model)
    workdir.mkdir(parents=True, exist_ok=True)
    systems: Dict[str, Callable[[], float]] = {
        "clinx_ner (nlp.pipe)": timed(lambda: list(nlp.pipe(notes, batch_size=batch_size))),
        "bare encoder, same windows": timed(encoder_only(nlp, notes)),
    }
    variants = {"clinx_ner (nlp.pipe)": nlp}

    def with_settings(name: str, windows: Optional[Dict[str, int]] = None, **settings) -> None:
        """MODEL loaded with clinx_ner's runtime settings (and window sizes), timed and scored as ``name``."""
        variant = spacy.load(model, config={**{f"components.clinx_ner.{k}": v for k, v in settings.items()},
                                            **(window_settings(model, **windows) if windows else {})})
        variants[name] = variant
        systems[name] = timed(lambda: list(variant.pipe(notes, batch_size=batch_size)))

    if bf16:
        with_settings("clinx_ner, cpu_bf16", cpu_bf16=True)
    if int8:
        with_settings("clinx_ner, cpu_int8", cpu_int8=True)
    if onnx:
        with_settings("clinx_ner, cpu_onnx", cpu_onnx=True)
    with_settings("clinx_ner, release_memory_growth_mb 0", release_memory_growth_mb=0)
    if centre:
        name = f"clinx_ner, centre {centre}" + (f", context {context}" if context >= 0 else "")
        sizes = {"centre": centre, **({"context": context} if context >= 0 else {})}
        with_settings(name, windows=sizes)
        if int8:
            with_settings(f"{name}, cpu_int8", windows=sizes, cpu_int8=True)
    if compare:
        name = f"clinx_ner ({system_name(compare)})"
        variants[name] = other = spacy.load(compare)
        systems[name] = timed(lambda: list(other.pipe(notes, batch_size=batch_size)))
    if ensemble:
        ens = spacy.load(ensemble)
        systems["clinx_ensemble (nlp.pipe)"] = timed(lambda: list(ens.pipe(notes, batch_size=batch_size)))
    if hf_model:
        from transformers import pipeline

        from spacy_clinx.model.architecture import max_input_length

        hf = pipeline("token-classification", model=hf_model, aggregation_strategy="first", stride=64, device=-1)
        # chunks of the tokenizer's model_max_length must fit the encoder's position table
        hf.tokenizer.model_max_length = min(hf.tokenizer.model_max_length, max_input_length(hf.model.config))
        systems["HF pipeline (first, stride 64)"] = timed(lambda: list(hf(notes, batch_size=8)))
    if flair_model:
        systems["flair (context 100, CRF)"] = flair_system(flair_model, texts, workdir, threads)
    for cnn_model in spacy_cnn_models:
        name = f"spaCy CNN tok2vec + ner ({system_name(cnn_model)})" if len(spacy_cnn_models) > 1 else \
            "spaCy CNN tok2vec + ner"
        variants[name] = cnn = spacy.load(cnn_model)
        systems[name] = timed(lambda cnn=cnn: list(cnn.pipe(notes, batch_size=batch_size)))
        if cnn.batch_size != batch_size:  # and with its own default (the config's nlp.batch_size), as users run it
            systems[f"{name}, batch size {cnn.batch_size}"] = timed(lambda cnn=cnn: list(cnn.pipe(notes)))
    if spacy_trf_model:
        trf = spacy.load(spacy_trf_model)
        systems["spaCy transformer + ner"] = timed(lambda: list(trf.pipe(notes, batch_size=batch_size)))
    for name, fn in systems.items():  # warm-up (flair starts a fresh process every run anyway)
        if not name.startswith("flair"):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in systems}
    for r in range(repeats):
        for name, fn in systems.items():
            times[name].append(fn())
            typer.echo(f"run {r + 1}/{repeats} {name}: {times[name][-1]:.1f} s")
    median = {name: statistics.median(t) for name, t in times.items()}
    rows = scaling_rows(model, texts, threads, release_growth_mb) if scaling else []
    accuracy = {name: strict_scores(pipeline, gold)["spans_char_f"] for name, pipeline in variants.items()} if gold else {}
    results = {"times": times, "median": median, "words": words, "documents": len(notes), "scaling": rows,
               "strict_f1": accuracy}
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    base = median["clinx_ner (nlp.pipe)"]
    lines = ["# Inference speed", "",
             f"Date: {date.today()}. Machine: {machine()}. torch {torch.__version__} ({threads} threads), "
             f"spaCy {spacy.__version__}, transformers {transformers.__version__}. Model: `{model}`"
             + (f", ensemble `{ensemble}`" if ensemble else "") + ".", "", "Command:", "", "```bash",
             f"python {' '.join(sys.argv)}", "```", "",
             f"{len(notes)} documents, {words:,} whitespace words (`{texts}`), batch size {batch_size}; median of "
             f"{repeats} runs, systems alternated within each run.", "",
             "| system | median s | words/s | time / clinx_ner |", "|---|---:|---:|---:|"]
    for name, seconds in median.items():
        lines.append(f"| {name} | {seconds:.2f} | {words / seconds:,.0f} | {seconds / base:.2f} |")
    lines += ["", f"Overhead ratio (clinx_ner end to end / bare encoder on the same windows): "
              f"**{base / median['bare encoder, same windows']:.3f}**", ""]
    if accuracy:
        reference = accuracy["clinx_ner (nlp.pipe)"]
        lines += ["## Speed options: accuracy cost", "", f"Strict character-level F1 on `{gold}`.", "",
                  "| option | strict F1 | change | time / clinx_ner |", "|---|---:|---:|---:|"]
        for name, f1 in accuracy.items():
            lines.append(f"| {name} | {100 * f1:.2f} | {100 * (f1 - reference):+.2f} | {median[name] / base:.2f} |")
        lines.append("")
    if rows:
        lines += scaling_table(rows)
    write_markdown(report, lines)


def scaling_table(rows: List[Dict]) -> List[str]:
    """Time per word against the 1k-word document, per ``release_memory_growth_mb`` setting."""
    lines = ["## One long document", "", "`release_memory_growth_mb`: freed heap memory given back to the OS when the",
             "process has grown by more than that many MB since the last time (0: never).", "",
             "| words | release_memory_growth_mb | seconds | ms per 1k words | vs 1k | time / never | peak RSS MB |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    first = {r["release_growth_mb"]: r["seconds"] / r["words"] for r in rows if r["words"] == SIZES[0]}
    never = {r["words"]: r["seconds"] for r in rows if r["release_growth_mb"] == 0 and not r["mates"]}
    alone = {(r["words"], r["release_growth_mb"]): r for r in rows if not r["mates"]}
    for r in rows:
        if r["mates"]:
            continue
        per_word = r["seconds"] / r["words"]
        lines.append(f"| {r['words']:,} | {r['release_growth_mb']} | {r['seconds']:.2f} | {1e6 * per_word:.1f} | "
                     f"{per_word / first[r['release_growth_mb']]:.2f} | {r['seconds'] / never[r['words']]:.2f} | "
                     f"{r['rss_mb']:,.0f} |")
    for r in rows:
        if r["mates"]:
            single = alone[r["words"], r["release_growth_mb"]]
            lines += ["", f"The {r['words']:,}-word document in one `nlp.pipe` batch with {r['mates']} test notes "
                      f"(release_memory_growth_mb {r['release_growth_mb']}): {r['seconds']:.2f} s, peak RSS "
                      f"{r['rss_mb']:,.0f} MB ({r['rss_mb'] / single['rss_mb']:.2f}x the document alone)."]
    return lines


if __name__ == "__main__":
    typer.run(main)
