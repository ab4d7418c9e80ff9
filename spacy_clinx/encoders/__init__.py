"""Building encoders locally: tokenizers and small transformer models trained from scratch."""
from .bootstrap import ARCHITECTURES, bootstrap_encoder, build_encoder, train_tokenizer

__all__ = ["ARCHITECTURES", "bootstrap_encoder", "build_encoder", "train_tokenizer"]
