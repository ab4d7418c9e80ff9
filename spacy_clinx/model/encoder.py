"""Load a Hugging Face encoder and its fast tokenizer by hub name or local path.

Errors say what to do (download the model, pass a local path) instead of
surfacing a traceback from deep inside transformers.
"""
import contextlib
from pathlib import Path
from typing import Tuple

import transformers
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerFast


class EncoderLoadError(OSError):
    pass


@contextlib.contextmanager
def quiet_transformers():
    """Silence 'weights not used' notes: loading an MLM checkpoint as an encoder is intended."""
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(level)


def load_encoder(name_or_path: str) -> Tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The bare encoder (no task head) and its fast tokenizer."""
    model, tokenizer = load_pretrained(name_or_path, AutoModel)
    return drop_pooler(model), tokenizer


def load_masked_lm(name_or_path: str, **config) -> Tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The encoder with its masked-LM head, for domain adaptation; ``config``: settings of its
    config to build it with instead of the saved ones."""
    return load_pretrained(name_or_path, AutoModelForMaskedLM, **config)


def load_pretrained(name_or_path: str, auto_class, **config) -> Tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    local = Path(name_or_path).expanduser()
    if local.is_dir() and not (local / "config.json").exists():
        raise EncoderLoadError(
            f"{local} is a directory but holds no config.json: pass the folder that "
            "`save_pretrained` wrote (config.json, weights, tokenizer files)."
        )
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), use_fast=True)
            model = auto_class.from_pretrained(str(name_or_path), **config)
    except (OSError, ValueError) as err:
        hint = "" if local.exists() else (
            " If this machine cannot reach the Hugging Face hub, download the model elsewhere "
            "(`huggingface-cli download NAME --local-dir DIR`) and pass DIR as the encoder."
        )
        raise EncoderLoadError(f"Could not load the encoder {name_or_path!r}: {err}.{hint}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderLoadError(
            f"{name_or_path!r} has no fast tokenizer; clinx_ner needs character offsets "
            "(offset_mapping), which only Hugging Face fast tokenizers provide."
        )
    return model, tokenizer


def drop_pooler(model: PreTrainedModel) -> PreTrainedModel:
    """BERT-style sentence poolers are unused by a tagger; without them no weight sits idle."""
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


def special_tokens(tokenizer) -> "tuple[list[int], list[int]]":
    """Ids the model expects before and after a sequence (e.g. [CLS] ... [SEP], <s> ... </s>)."""
    enc = tokenizer("x", add_special_tokens=True, return_special_tokens_mask=True)
    mask = enc["special_tokens_mask"]
    first = mask.index(0) if 0 in mask else len(mask)
    last = len(mask) - list(reversed(mask)).index(0) if 0 in mask else len(mask)
    return enc["input_ids"][:first], enc["input_ids"][last:]
