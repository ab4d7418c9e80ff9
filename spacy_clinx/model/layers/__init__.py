"""Layers the tagger is composed of."""
from .token_features import (  # noqa: F401
    MaxoutWindowEncoder,
    TokenFeatureEmbed,
    TokenFeatures,
    create_token_features,
    create_token_features_in_context,
    subword_feature_ids,
    subword_tokens,
)
