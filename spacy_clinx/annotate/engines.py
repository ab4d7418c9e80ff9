"""Run a pipeline over notes: in this process (``n_process`` forked workers via ``nlp.pipe``),
or on Ray (a pool of actors, each loading the pipeline once per run, fed as the input is read;
Parquet input goes through Ray Data instead: ``ray_data.py``).

Every engine yields ``(id, text, entities)`` per document (Ray Data also the row's other columns);
the driver alone writes the output, so exactly-once writing does not depend on the engine.
"""
import json
from collections import Counter, deque
from itertools import count, islice
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from ..components.clinx_ensemble import ClinxEnsemble
from ..components.clinx_ner import ClinxNER
from ..corpora.outputs import doc_entities

SCORES_KEY = "clinx_scores"
MEMBERS_PREFIX = "clinx_member"

Result = Tuple[str, str, list]


def check_pipeline(model: str) -> str:
    """``model`` if it names a pipeline folder or an installed pipeline package, else a one-line error."""
    if not (Path(model).is_dir() and (Path(model) / "config.cfg").exists()) and not spacy.util.is_package(model):
        raise FileNotFoundError(f"{model}: no such pipeline folder (with a config.cfg) or installed pipeline package")
    return model


def load_for_annotation(model: str, cpu_int8: bool = False) -> Language:
    """The pipeline, keeping what the output's entity scores are made of: clinx_ner's CRF
    marginals, or each ensemble member's entities. ``cpu_int8``: every clinx_ner (an ensemble's
    members too) predicts on CPU in ONNX Runtime's int8 (its component setting)."""
    nlp = spacy.load(check_pipeline(model))
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, ClinxNER):
            pipe.spans_key = SCORES_KEY
            pipe.cpu_int8 = pipe.cpu_int8 or cpu_int8
        elif isinstance(pipe, ClinxEnsemble):
            pipe.member_spans_prefix = MEMBERS_PREFIX
            for member in pipe.members if cpu_int8 else []:
                member.cpu_int8 = True
    return nlp


def scored_entities(doc: Doc) -> list:
    """``doc.ents`` as output records; ``score``: the CRF marginal of a single model, or for an
    ensemble the share of members that found the same entity (label, start, end)."""
    entities = doc_entities(doc, SCORES_KEY)
    members = [group for key, group in doc.spans.items() if key.startswith(MEMBERS_PREFIX)]
    if members:
        found = Counter((s.label_, s.start_char, s.end_char) for group in members for s in group)
        for e in entities:
            e["score"] = found[(e["label"], e["start"], e["end"])] / len(members)
    return entities


def annotate_locally(nlp: Language, notes: Iterable[Tuple[str, str]], batch_size: int,
                     n_process: int = 1) -> Iterator[Result]:
    pairs = ((text, doc_id) for doc_id, text in notes)
    for doc, doc_id in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
        yield doc_id, doc.text, scored_entities(doc)


class RayAnnotator:
    """A Ray actor: loads the pipeline once for the whole run, then annotates batches of notes."""

    def __init__(self, model: str, on_gpu: bool = False, cpu_int8: bool = False):
        import uuid

        import torch

        torch.set_num_threads(1)  # one CPU per actor; Ray runs one actor per CPU it was given
        if on_gpu:  # Ray has set CUDA_VISIBLE_DEVICES to this actor's GPU
            from ..device import use_device

            use_device(0)
        self.nlp = load_for_annotation(model, cpu_int8)
        self.load_id = uuid.uuid4().hex  # one per load: the driver counts the loads of a run

    def annotate(self, batch: List[Tuple[str, str]]) -> Tuple[str, List[Result]]:
        docs = self.nlp.pipe((text for _, text in batch), batch_size=len(batch))
        return self.load_id, [(doc_id, text, scored_entities(doc)) for (doc_id, text), doc in zip(batch, docs)]


def actor_options(gpus_per_worker: float = 0.0) -> dict:
    """Ray resources of one annotator: one CPU, and ``gpus_per_worker`` GPUs when asked (a fraction
    lets actors share a GPU)."""
    if gpus_per_worker < 0:
        raise ValueError(f"--gpus-per-worker must be 0 (CPU actors) or more, not {gpus_per_worker}")
    return {"num_cpus": 1, **({"num_gpus": gpus_per_worker} if gpus_per_worker > 0 else {})}


def connect_ray(address: Optional[str], local_cpus: int):
    """The ``ray`` module, connected: to the cluster at ``address``, or else to a local Ray of
    ``local_cpus`` CPUs started here (unless this process is connected already)."""
    try:
        import ray
        import ray.data  # noqa: F401  (the "ray[data]" extra; annotate's Parquet input on Ray reads with it)
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=local_cpus, include_dashboard=False, log_to_driver=False)
    return ray


def annotate_on_ray(model: str, notes: Iterable[Tuple[str, str]], batch_size: int, workers: int,
                    address: Optional[str] = None, chunk_docs: int = 4096,
                    gpus_per_worker: float = 0.0, stats: Optional[dict] = None,
                    cpu_int8: bool = False) -> Iterator[Result]:
    """Notes stream through ``workers`` Ray actors that each load the pipeline once for the run; the
    driver reads its input as it goes and keeps at most ``chunk_docs`` notes (rounded up to whole
    batches) in flight, so its memory does not grow with the input. Results come back in input order.
    ``stats["pipeline_loads"]``: how many pipeline loads served the run (one per actor)."""
    options = actor_options(gpus_per_worker)
    ray = connect_ray(address, workers)
    actors = [ray.remote(**options)(RayAnnotator).remote(str(model), gpus_per_worker > 0, cpu_int8)
              for _ in range(workers)]
    in_flight: deque = deque()
    max_batches = max(workers, -(-chunk_docs // batch_size))
    loads = set()
    notes = iter(notes)
    try:
        for n in count():
            batch = list(islice(notes, batch_size))
            if batch:
                in_flight.append(actors[n % workers].annotate.remote(batch))
            while in_flight and (len(in_flight) >= max_batches or not batch):
                load_id, results = ray.get(in_flight.popleft())
                loads.add(load_id)
                if stats is not None:
                    stats["pipeline_loads"] = len(loads)
                yield from results
            if not batch:
                return
    finally:
        for actor in actors:
            ray.kill(actor)
