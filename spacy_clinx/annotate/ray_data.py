"""Parquet notes on Ray Data: the cluster reads the Parquet input (a file or a folder of them) and runs
the pipeline in a pool of actors (``map_batches``), each loading it once for the run; the driver reads
no text, only the annotated rows that stream back to it in input order, and writes them through the
same sinks as every engine, so a resumed run still writes each note exactly once (Ray Data's own
``write_parquet`` writes its files in place, under names of its own: a killed run could leave a torn
or duplicate file behind).
"""
import json
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple

from .engines import RayAnnotator, actor_options, connect_ray, scored_entities

LOAD_COLUMN = "_clinx_load"  # which pipeline load annotated a row: the driver counts the loads of a run


class ParquetBatchAnnotator:
    """A Ray Data actor: the pipeline loaded once, then each ``pyarrow.Table`` batch of notes gets an
    ``entities`` column (JSON records) and the id as a string; notes already in the output are dropped."""

    def __init__(self, model: str, on_gpu: bool, cpu_int8: bool, done: Iterable[str]):
        import pyarrow

        self.annotator = RayAnnotator(model, on_gpu, cpu_int8)
        self.done = pyarrow.array(sorted(done), pyarrow.string())

    def __call__(self, batch):
        import pyarrow
        import pyarrow.compute as pc

        ids = pc.cast(batch["id"], pyarrow.string())
        batch = batch.set_column(batch.schema.get_field_index("id"), "id", ids)
        batch = batch.filter(pc.invert(pc.is_in(ids, value_set=self.done)))
        docs = self.annotator.nlp.pipe(batch["text"].to_pylist(), batch_size=max(1, batch.num_rows))
        entities = [json.dumps(scored_entities(doc), ensure_ascii=False) for doc in docs]
        if "entities" in batch.schema.names:  # an input column of that name would be mistaken for ours
            batch = batch.drop_columns(["entities"])
        batch = batch.append_column("entities", pyarrow.array(entities, pyarrow.string()))
        return batch.append_column(LOAD_COLUMN, pyarrow.array([self.annotator.load_id] * batch.num_rows,
                                                               pyarrow.string()))


def annotate_parquet_on_ray(model: str, source: Path, done: Iterable[str], batch_size: int, workers: int,
                            address: Optional[str] = None, gpus_per_worker: float = 0.0,
                            stats: Optional[dict] = None,
                            cpu_int8: bool = False) -> Iterator[Tuple[str, str, list, Optional[dict]]]:
    """(id, text, entities, the row's other columns or None) per note not in ``done``, in input order.
    ``stats["pipeline_loads"]``: how many pipeline loads served the run (one per actor)."""
    ray = connect_ray(address, workers + 1)  # a local Ray: one CPU per actor, and one to list and read files
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output in input order, as every engine writes it
    context.enable_progress_bars = False  # the driver's own bar counts notes and words
    options = actor_options(gpus_per_worker)
    dataset = ray.data.read_parquet(str(source), columns=None)
    missing = [c for c in ("id", "text") if c not in dataset.schema().names]
    if missing:
        raise ValueError(f"{source}: the Parquet input has no {', '.join(map(repr, missing))} column "
                         f"(columns: {', '.join(dataset.schema().names)})")
    annotated = dataset.map_batches(
        ParquetBatchAnnotator, batch_size=batch_size, batch_format="pyarrow",
        fn_constructor_args=(str(model), gpus_per_worker > 0, cpu_int8, list(done)),
        compute=ray.data.ActorPoolStrategy(size=workers), **options)
    loads = set()
    for batch in annotated.iter_batches(batch_format="pyarrow", batch_size=None):
        for row in batch.to_pylist():
            loads.add(row.pop(LOAD_COLUMN))
            doc_id, text, entities = row.pop("id"), row.pop("text"), json.loads(row.pop("entities"))
            if not isinstance(text, str):
                raise ValueError(f"{source}: note {doc_id!r}: 'text' must be a string, not {type(text).__name__}")
            yield doc_id, text, entities, row or None
        if stats is not None:
            stats["pipeline_loads"] = len(loads)
