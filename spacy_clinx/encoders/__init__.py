"""Building encoders locally: tokenizers and small transformer models trained from scratch."""
from .bootstrap import ARCHITECTURES, build_encoder, train_tokenizer

__all__ = ["ARCHITECTURES", "build_encoder", "train_tokenizer"]
