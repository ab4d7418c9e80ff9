"""The annotate command's loop: skip what the output already holds, annotate the rest with the
chosen engine, write in batches, show documents/s and words/s."""
import time
from itertools import islice
from pathlib import Path
from typing import Dict, Optional

from tqdm import tqdm

from ..device import use_device
from .engines import annotate_locally, annotate_on_ray, check_pipeline, load_for_annotation
from .inputs import note_ids, read_notes
from .parquet import is_parquet
from .ray_data import annotate_parquet_on_ray
from .redact import MODES, new_key, redacted_result
from .sinks import open_sink


def annotate(model: str, source: Path, output: Path, fmt: str = "jsonl", batch_size: int = 32, n_process: int = 1,
             engine: str = "local", workers: int = 2, address: Optional[str] = None, chunk_docs: int = 4096,
             progress: bool = True, gpu_id: int = -1, gpus_per_worker: float = 0.0,
             redact: Optional[str] = None, cpu_int8: bool = False) -> Dict:
    """``redact``: ``mask`` or ``surrogate`` writes the de-identified text instead of the input's
    (``redact.py``), its entities indexing it, with their input offsets beside them. ``cpu_int8``:
    predict on CPU in ONNX Runtime's int8 (clinx_ner's setting; every engine, ensemble members too)."""
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}: use local or ray")
    if not Path(source).exists():
        raise FileNotFoundError(f"{source}: no such folder, JSONL or Parquet file")
    out, src = Path(output).resolve(), Path(source).resolve()
    if out == src or (src.is_dir() and src in out.parents):
        raise ValueError(f"{output}: the output would overwrite the input or sit inside its folder (a rerun would "
                         "read it as notes); write it elsewhere")
    if out.suffix == ".gz":
        raise ValueError(f"{output}: annotate writes plain JSONL, which it appends to and resumes; name it .jsonl "
                         "and compress it when the run is done")
    if redact is not None and redact not in MODES:
        raise ValueError(f"unknown redaction {redact!r}: use {' or '.join(MODES)}")
    if cpu_int8 and (gpu_id >= 0 or gpus_per_worker > 0):
        raise ValueError("--cpu-int8 is a CPU setting: drop it, or --gpu-id / --gpus-per-worker")
    if gpu_id >= 0 and (engine != "local" or n_process > 1):
        raise ValueError("--gpu-id runs this process on one GPU (engine local, --n-process 1); Ray actors ask for "
                         "GPUs with --gpus-per-worker")
    # the model is found before the output is opened, so a wrong name leaves no output behind
    if engine == "local":
        use_device(gpu_id)
        nlp = load_for_annotation(model, cpu_int8)
    else:
        check_pipeline(model)
    existed = Path(output).exists()
    sink = open_sink(output, fmt, with_text=redact is not None)
    try:
        done = set(sink.done)
        total = sum(1 for doc_id in note_ids(source) if doc_id not in done)
    except Exception:
        sink.close()
        if not existed:
            sink.remove()
        raise
    fields: Dict[str, dict] = {}  # the other fields of the notes read and not yet written
    key = new_key() if redact == "surrogate" else b""

    def pending_notes():
        for doc_id, text, extra in read_notes(source):
            if doc_id not in done:
                if extra and redact is None:  # other fields may identify too: de-identified output drops them
                    fields[doc_id] = extra
                yield doc_id, text

    def keeping_fields(annotated):  # Ray Data's results bring each row's other columns with them
        for doc_id, text, entities, extra in annotated:
            if extra and redact is None:
                fields[doc_id] = extra
            yield doc_id, text, entities

    ray_stats: Dict[str, int] = {}
    if not total:  # every note is in the output already: no workers to start
        results = iter(())
    elif engine == "local":
        results = annotate_locally(nlp, pending_notes(), batch_size, n_process)
    elif is_parquet(source):  # the cluster reads the files, the driver only the ids (above)
        results = keeping_fields(annotate_parquet_on_ray(model, source, done, batch_size, workers, address,
                                                         gpus_per_worker, stats=ray_stats, cpu_int8=cpu_int8))
    else:
        results = annotate_on_ray(model, pending_notes(), batch_size, workers, address, chunk_docs, gpus_per_worker,
                                  stats=ray_stats, cpu_int8=cpu_int8)
    start, written, words = time.perf_counter(), 0, 0
    bar = tqdm(total=total, unit="doc", desc="annotate", disable=not progress)
    try:
        while True:
            chunk = list(islice(results, batch_size))
            if not chunk:
                break
            words += sum(len(text.split()) for _, text, _ in chunk)
            if redact is not None:
                chunk = [redacted_result(doc_id, text, entities, redact, key) for doc_id, text, entities in chunk]
            sink.write(chunk, [fields.pop(doc_id, None) for doc_id, _, _ in chunk])
            written += len(chunk)
            bar.update(len(chunk))
            bar.set_postfix(words_per_s=f"{words / max(time.perf_counter() - start, 1e-9):.0f}")
    finally:
        bar.close()
        sink.close()
        if not written and not existed:
            sink.remove()  # nothing written (an error before the first batch): no empty output
    seconds = time.perf_counter() - start
    return {"skipped_already_done": len(done), "written": written, "words": words, "seconds": seconds,
            "docs_per_s": written / seconds if seconds else 0.0, "words_per_s": words / seconds if seconds else 0.0,
            **ray_stats}
