"""Layers the tagger is composed of."""
from .token_features import TokenFeatureEmbed, TokenFeatures, create_token_features, subword_feature_ids  # noqa: F401
