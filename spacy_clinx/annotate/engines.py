"""Run a pipeline over notes: in this process (``n_process`` forked workers via ``nlp.pipe``),
or on Ray (Ray Data ``map_batches`` with a pool of actors, each loading the pipeline once).

Both engines yield ``(id, text, entities)`` per document; the driver alone writes the output,
so exactly-once writing does not depend on the engine.
"""
import json
from typing import Iterable, Iterator, List, Optional, Tuple

import spacy
from spacy.language import Language

from ..components.clinx_ner import ClinxNER
from ..corpora.outputs import doc_entities

SCORES_KEY = "clinx_scores"

Result = Tuple[str, str, list]


def load_for_annotation(model: str) -> Language:
    """The pipeline, with clinx_ner keeping entity confidences (CRF marginals) for the output."""
    nlp = spacy.load(model)
    for _, pipe in nlp.pipeline:
        if isinstance(pipe, ClinxNER):
            pipe.spans_key = SCORES_KEY
    return nlp


def annotate_locally(nlp: Language, notes: Iterable[Tuple[str, str]], batch_size: int,
                     n_process: int = 1) -> Iterator[Result]:
    pairs = ((text, doc_id) for doc_id, text in notes)
    for doc, doc_id in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
        yield doc_id, doc.text, doc_entities(doc, SCORES_KEY)


class RayAnnotator:
    """A Ray actor: loads the pipeline once, then annotates batches of {"id", "text"} columns."""

    def __init__(self, model: str):
        import torch

        torch.set_num_threads(1)  # one CPU per actor; Ray runs one actor per CPU it was given
        self.nlp = load_for_annotation(model)

    def __call__(self, batch):
        texts = [str(t) for t in batch["text"]]
        docs = self.nlp.pipe(texts, batch_size=len(texts))
        return {"id": batch["id"], "text": texts,
                "entities": [json.dumps(doc_entities(doc, SCORES_KEY), ensure_ascii=False) for doc in docs]}


def annotate_on_ray(model: str, notes: Iterable[Tuple[str, str]], batch_size: int, workers: int,
                    address: Optional[str] = None) -> Iterator[Result]:
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    items: List[dict] = [{"id": doc_id, "text": text} for doc_id, text in notes]
    if not items:
        return
    dataset = ray.data.from_items(items).map_batches(
        RayAnnotator, fn_constructor_args=(str(model),), batch_size=batch_size, concurrency=workers, num_cpus=1)
    for batch in dataset.iter_batches(batch_size=batch_size, batch_format="numpy"):
        for doc_id, text, entities in zip(batch["id"], batch["text"], batch["entities"]):
            yield str(doc_id), str(text), json.loads(str(entities))
