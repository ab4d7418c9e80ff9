"""Cross-task transfer (paper 3.4): start a target model from a trained source model's encoder,
train on the first n sentences, and rank candidate sources by model similarity."""
from .encoder_export import export_encoder, find_tagger
from .low_resource import first_sentences
from .similarity import rank_sources

__all__ = ["export_encoder", "find_tagger", "first_sentences", "rank_sources"]
