"""Parquet notes on Ray Data: the cluster reads the Parquet input (a file or a folder of them) and runs
the pipeline in a pool of actors (``map_batches``), each loading it once for the run; the annotated
rows stream back to the driver in input order, and the driver writes them through the same sinks as
every engine, so a resumed run still writes each note exactly once (Ray Data's own
``write_parquet`` writes its files in place, under names of its own: a killed run could leave a torn
or duplicate file behind).
"""
import json
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

from .engines import RayAnnotator, actor_options, connect_ray, scored_entities
from .parquet import note_files, note_id

LOAD_COLUMN = "_clinx_load"  # which pipeline load annotated a row: the driver counts the loads of a run


class ParquetBatchAnnotator:
    """A Ray Data actor: the pipeline loaded once, then each ``pyarrow.Table`` batch of notes gets an
    ``entities`` column (JSON records; null for a null text, which the driver reports) and its id as
    text; notes already in the output are dropped."""

    def __init__(self, model: str, on_gpu: bool, cpu_int8: bool, done_ref):
        import pyarrow
        import ray

        self.annotator = RayAnnotator(model, on_gpu, cpu_int8)
        self.done = pyarrow.array(ray.get(done_ref), pyarrow.string())

    def __call__(self, batch):
        import pyarrow
        import pyarrow.compute as pc

        ids = pyarrow.array([note_id(i, "note") for i in batch["id"].to_pylist()], pyarrow.string())
        batch = batch.set_column(batch.schema.get_field_index("id"), "id", ids)
        batch = batch.filter(pc.invert(pc.is_in(ids, value_set=self.done)))
        texts = batch["text"].to_pylist()
        docs = iter(self.annotator.nlp.pipe([t for t in texts if t is not None], batch_size=max(1, len(texts))))
        entities = [None if t is None else json.dumps(scored_entities(next(docs)), ensure_ascii=False)
                    for t in texts]
        batch = batch.drop_columns([c for c in ("entities", LOAD_COLUMN) if c in batch.schema.names])
        batch = batch.append_column("entities", pyarrow.array(entities, pyarrow.string()))
        return batch.append_column(LOAD_COLUMN, pyarrow.array([self.annotator.load_id] * batch.num_rows,
                                                               pyarrow.string()))


def annotate_parquet_on_ray(model: str, source: Path, done: Iterable[str], batch_size: int, workers: int,
                            address: Optional[str] = None, gpus_per_worker: float = 0.0,
                            stats: Optional[dict] = None,
                            cpu_int8: bool = False) -> Iterator[Tuple[str, str, list, Optional[dict]]]:
    """(id, text, entities, the row's other columns or None) per note not in ``done``, in input order.
    The input must be readable at the same path on every node (shared storage), and its ids checked
    by the driver first (``inputs.note_ids``). ``stats["pipeline_loads"]``: how many pipeline loads
    served the run (one per actor)."""
    ray = connect_ray(address, workers + 1)  # a local Ray: one CPU per actor, and one to list and read files
    cpus = ray.cluster_resources().get("CPU", 0)
    if not address and cpus < workers + 1:  # e.g. a Ray this process started earlier with fewer CPUs
        raise ValueError(f"--workers {workers} needs {workers + 1} CPUs of the local Ray (one per actor and one to "
                         f"read the files); it has {cpus:g}")
    context = ray.data.DataContext.get_current()
    saved = context.execution_options.preserve_order, context.enable_progress_bars
    context.execution_options.preserve_order = True  # the output in input order, as every engine writes it
    context.enable_progress_bars = False  # the driver's own bar counts notes and words
    try:
        try:  # Ray Data's listing threads import this on first use; one's failed import can break another's
            import fsspec.implementations.http  # noqa: F401  (needs aiohttp: the "ray" extra)
        except ImportError:
            pass
        files = [str(f.resolve()) for f in note_files(source)]
        dataset = ray.data.read_parquet(files, partitioning=None)  # the files the driver's id pass read
        annotated = dataset.map_batches(
            ParquetBatchAnnotator, batch_size=batch_size, batch_format="pyarrow",
            fn_constructor_args=(str(model), gpus_per_worker > 0, cpu_int8, ray.put(sorted(done))),
            compute=ray.data.ActorPoolStrategy(size=workers), **actor_options(gpus_per_worker))
        loads = set()
        for batch in annotated.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                loads.add(row.pop(LOAD_COLUMN))
                doc_id, text, entities = row.pop("id"), row.pop("text"), row.pop("entities")
                if entities is None:
                    raise ValueError(f"{source}: note {doc_id!r}: the text is null")
                yield doc_id, text, json.loads(entities), row or None
            if stats is not None:
                stats["pipeline_loads"] = len(loads)
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
