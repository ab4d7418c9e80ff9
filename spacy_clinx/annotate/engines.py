"""Run a pipeline over notes: in this process (``n_process`` forked workers via ``nlp.pipe``),
or on Ray (Ray Data ``map_batches`` with a pool of actors, each loading the pipeline once).

Both engines yield ``(id, text, entities)`` per document; the driver alone writes the output,
so exactly-once writing does not depend on the engine.
"""
import json
from collections import Counter
from itertools import islice
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


def load_for_annotation(model: str) -> Language:
    """The pipeline, keeping what the output's entity scores are made of: clinx_ner's CRF
    marginals, or each ensemble member's entities."""
    nlp = spacy.load(check_pipeline(model))
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, ClinxNER):
            pipe.spans_key = SCORES_KEY
        elif isinstance(pipe, ClinxEnsemble):
            pipe.member_spans_prefix = MEMBERS_PREFIX
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
    """A Ray actor: loads the pipeline once, then annotates batches of {"id", "text"} columns."""

    def __init__(self, model: str, on_gpu: bool = False):
        import torch

        torch.set_num_threads(1)  # one CPU per actor; Ray runs one actor per CPU it was given
        if on_gpu:  # Ray has set CUDA_VISIBLE_DEVICES to this actor's GPU
            from ..device import use_device

            use_device(0)
        self.nlp = load_for_annotation(model)

    def __call__(self, batch):
        texts = [str(t) for t in batch["text"]]
        docs = self.nlp.pipe(texts, batch_size=len(texts))
        return {"id": batch["id"], "text": texts,
                "entities": [json.dumps(scored_entities(doc), ensure_ascii=False) for doc in docs]}


def actor_pool(model: str, batch_size: int, workers: int, gpus_per_worker: float = 0.0) -> dict:
    """``map_batches`` arguments of the annotator pool: ``workers`` actors of one CPU each, and
    ``gpus_per_worker`` GPUs each when asked (a fraction lets actors share a GPU)."""
    if gpus_per_worker < 0:
        raise ValueError(f"--gpus-per-worker must be 0 (CPU actors) or more, not {gpus_per_worker}")
    pool = {"fn_constructor_args": (str(model), gpus_per_worker > 0), "batch_size": batch_size,
            "concurrency": workers, "num_cpus": 1}
    if gpus_per_worker > 0:
        pool["num_gpus"] = gpus_per_worker
    return pool


def annotate_on_ray(model: str, notes: Iterable[Tuple[str, str]], batch_size: int, workers: int,
                    address: Optional[str] = None, chunk_docs: int = 4096,
                    gpus_per_worker: float = 0.0) -> Iterator[Result]:
    """Notes go to Ray ``chunk_docs`` at a time, so the driver never holds more than one chunk
    of texts and results; each chunk is one Ray dataset through the same actor pool size."""
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    notes = iter(notes)
    while True:
        items: List[dict] = [{"id": doc_id, "text": text} for doc_id, text in islice(notes, chunk_docs)]
        if not items:
            return
        dataset = ray.data.from_items(items).map_batches(
            RayAnnotator, **actor_pool(model, batch_size, workers, gpus_per_worker))
        del items
        for batch in dataset.iter_batches(batch_size=batch_size, batch_format="numpy"):
            for doc_id, text, entities in zip(batch["id"], batch["text"], batch["entities"]):
                yield str(doc_id), str(text), json.loads(str(entities))
