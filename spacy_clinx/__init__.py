"""spacy-clinx: CLIN-X clinical concept extraction (subword BIOES CRF tagging with document context) for spaCy."""
from .components.clinx_ner import ClinxNER, make_clinx_ner  # noqa: F401  (registers the factory)
from .components.clinx_ensemble import ClinxEnsemble, make_clinx_ensemble  # noqa: F401
from .model.architecture import build_subword_crf_tagger  # noqa: F401  (registers the architecture)
from .model.weights_from import create_weights_from_pipeline  # noqa: F401  (registers the warm-start callback)
from .schedules import warmup_linear_over_corpus  # noqa: F401  (registers the learning-rate schedule)
from .scoring import char_strict_prf, score_clinx_ner  # noqa: F401
from .tokenizer import create_char_class_tokenizer  # noqa: F401

__version__ = "0.1.0"
