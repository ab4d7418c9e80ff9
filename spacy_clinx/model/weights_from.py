"""Start a clinx_ner's training from the weights of a trained one (``[initialize.after_init]``).

The distilled student learns what a model of the ensemble already knows; starting from that
model's weights (encoder, token features, emission layer and CRF together), it needs a fraction of
the updates of a start from the masked-LM encoder alone. spaCy's own ``source`` would copy the
component's config too, and with it the teacher's head; this copies weights only, into the
component the config builds, after ``nlp.initialize`` has built it.
"""
from pathlib import Path
from typing import Callable

from spacy.language import Language
from spacy.util import registry

from .architecture import get_tagger


@registry.callbacks("spacy_clinx.weights_from_pipeline.v1")
def create_weights_from_pipeline(path: str, component: str = "clinx_ner") -> Callable[[Language], Language]:
    """An ``after_init`` callback: the ``component`` of the trained pipeline at ``path`` gives its
    model's weights to the same component of the pipeline being initialised (the same architecture,
    encoder and labels)."""

    def copy_weights(nlp: Language) -> Language:
        import spacy

        if not (Path(path) / "meta.json").exists():
            raise FileNotFoundError(f"{path}: no trained pipeline to take the {component} weights from")
        source = spacy.load(path)
        if component not in source.pipe_names or component not in nlp.pipe_names:
            raise ValueError(f"{path}: both pipelines need a {component!r} component to copy its weights")
        giver, taker = get_tagger(source.get_pipe(component).model), get_tagger(nlp.get_pipe(component).model)
        if list(giver.tag_names) != list(taker.tag_names):
            raise ValueError(f"{path}: its {component} tags {list(giver.tag_names)} are not those being trained "
                             f"{list(taker.tag_names)}")
        if giver.tokenizer.get_vocab() != taker.tokenizer.get_vocab():
            raise ValueError(f"{path}: its {component} has another tokenizer than the encoder being trained")
        try:
            taker.load_state_dict(giver.state_dict())  # strict: the same layers, of the same sizes
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"{path}: its {component} model is not the one being trained, so its weights "
                             f"cannot be copied ({first})") from err
        return nlp

    return copy_weights
