"""A trained ``clinx_ner`` pipeline's fine-tuned encoder, saved as a Hugging Face model folder.

Transfer trains a target model with this folder as its ``encoder``: the encoder weights (and
the tokenizer) come from the source task, the emission layer and the CRF are built new for
the target labels by the usual ``initialize``."""
from pathlib import Path
from typing import Union

import spacy
from spacy.language import Language

from ..components.clinx_ner import find_clinx_component
from ..model.architecture import get_tagger
from ..model.tagger import SubwordCRFTagger


def find_tagger(nlp: Language) -> SubwordCRFTagger:
    """The torch tagger of the pipeline's ``clinx_ner``."""
    pipe = find_clinx_component(nlp)
    tagger = get_tagger(pipe.model)
    if not isinstance(tagger, SubwordCRFTagger):
        raise ValueError(f"{pipe.name}: the clinx_ner model is not initialised (not a trained pipeline)")
    return tagger


def export_encoder(source: Union[str, Path, Language], output: Path) -> Path:
    """Write the source pipeline's encoder and tokenizer to ``output`` (config.json, weights, tokenizer)."""
    nlp = source if isinstance(source, Language) else spacy.load(source)
    tagger = find_tagger(nlp)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    tagger.encoder.save_pretrained(output)
    tagger.tokenizer.save_pretrained(output)
    return output
