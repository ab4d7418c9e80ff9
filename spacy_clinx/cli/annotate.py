"""``annotate``: entities of many notes with a pipeline, resumable, locally or on Ray."""
from enum import Enum
from pathlib import Path

import typer

from ._util import app, fail


class OutputFormat(str, Enum):
    jsonl = "jsonl"
    brat = "brat"
    parquet = "parquet"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Redaction(str, Enum):
    mask = "mask"
    surrogate = "surrogate"


@app.command("annotate")
def annotate_command(
    model: str = typer.Argument(..., help="pipeline folder or installed package name"),
    input: Path = typer.Argument(..., help="folder of .txt files (brat folders too), JSONL of {id, text} "
                             "(.jsonl.gz too) or Parquet with id and text columns (a file or a folder; "
                             "with --engine ray read by Ray Data)"),
    output: Path = typer.Argument(..., help="JSONL file, or folder for --format brat or parquet"),
    fmt: OutputFormat = typer.Option(OutputFormat.jsonl, "--format", help="output format"),
    batch_size: int = typer.Option(32, help="documents per batch"),
    n_process: int = typer.Option(1, help="local worker processes (engine local)"),
    engine: Engine = typer.Option(Engine.local, help="this process (and its forked workers), or a Ray pool"),
    workers: int = typer.Option(2, help="Ray actors, one CPU each (engine ray)"),
    address: str = typer.Option("", help="Ray cluster address; empty: start a local Ray"),
    chunk_docs: int = typer.Option(4096, help="notes in flight to the Ray actors at most: bounds the driver's memory "
                                    "(engine ray)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to predict on (engine local); -1: CPU"),
    gpus_per_worker: float = typer.Option(0.0, help="GPUs each Ray actor requests (engine ray); 0: CPU actors"),
    redact: Redaction = typer.Option(None, help="write de-identified text: each entity as [LABEL] (mask) or as a "
                                     "consistent surrogate of its kind (surrogate), entities indexing that text"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="predict on CPU in ONNX Runtime's int8: faster, scores "
                                  "a little off float32's, the same in any batch (spacy-clinx[onnx]; docs/speed.md)"),
) -> None:
    """Annotate notes with a pipeline. Rerun after an interruption: documents already in OUTPUT
    are skipped and none is written twice."""
    import json

    from ..annotate.run import annotate

    try:
        stats = annotate(model, input, output, fmt.value, batch_size, n_process, engine.value, workers, address or None,
                         chunk_docs, gpu_id=gpu_id, gpus_per_worker=gpus_per_worker,
                         redact=redact.value if redact else None, cpu_int8=cpu_int8)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        fail(str(err))
    typer.echo(json.dumps(stats))
