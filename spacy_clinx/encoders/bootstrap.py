"""Bootstrap a small encoder from clinical text when no pretrained one can be downloaded.

Three families, matching the subword schemes users meet in practice:

- ``xlm-roberta``: SentencePiece-style Unigram tokenizer (XLM-R, CLIN-X);
- ``bert``: WordPiece (BERT, Bio_ClinicalBERT);
- ``longformer``: byte-level BPE (RoBERTa, Clinical-Longformer).

The result is a directory that ``AutoModel``/``AutoTokenizer.from_pretrained`` load,
with a masked-LM head so that MLM training can continue from it.
"""
from pathlib import Path
from typing import Iterable, List, Union

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForMaskedLM,
    BertConfig,
    LongformerConfig,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
)

ARCHITECTURES = ("xlm-roberta", "bert", "longformer")
_ROBERTA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                     "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
_BERT_SPECIALS = {"unk_token": "[UNK]", "pad_token": "[PAD]", "mask_token": "[MASK]", "cls_token": "[CLS]",
                  "sep_token": "[SEP]"}
# Digits and punctuation split off so that entity boundaries (dates, ids, codes) fall between subwords.
_SPLITS = [pre_tokenizers.Digits(individual_digits=False), pre_tokenizers.Punctuation()]


def train_tokenizer(texts: Iterable[str], architecture: str, vocab_size: int = 8000) -> PreTrainedTokenizerFast:
    if architecture == "xlm-roberta":
        specials = _ROBERTA_SPECIALS
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace()] + _SPLITS)
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=_ordered(specials),
                                          unk_token="<unk>")
        template = ("<s> $A </s>", "<s> $A </s> </s> $B </s>")
    elif architecture == "bert":
        specials = _BERT_SPECIALS
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer()] + _SPLITS)
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=_ordered(specials))
        template = ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]")
    elif architecture == "longformer":
        specials = _ROBERTA_SPECIALS
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            _SPLITS + [pre_tokenizers.ByteLevel(add_prefix_space=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=_ordered(specials),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        template = ("<s> $A </s>", "<s> $A </s> </s> $B </s>")
    else:
        raise ValueError(f"Unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    tok.train_from_iterator(texts, trainer=trainer)
    cls, sep = specials["cls_token"], specials["sep_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=template[0], pair=template[1],
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **specials)


def _ordered(specials: dict) -> list:
    return list(dict.fromkeys(specials.values()))


def build_encoder(
    tokenizer: PreTrainedTokenizerFast,
    architecture: str,
    output_dir: Union[str, Path],
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int = 1024,
    max_positions: int = 512,
    seed: int = 0,
) -> Path:
    """Randomly initialised masked-LM of the given family, saved with its tokenizer."""
    import torch

    torch.manual_seed(seed)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        pad_token_id=tokenizer.pad_token_id,
    )
    # RoBERTa-family position ids start after padding_idx, so the table needs pad_token_id + 1
    # more rows for the encoder to take the tokenizer's model_max_length (max_positions) subwords.
    offset = tokenizer.pad_token_id + 1
    if architecture == "xlm-roberta":
        config = XLMRobertaConfig(max_position_embeddings=max_positions + offset, bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, **common)
    elif architecture == "bert":
        config = BertConfig(max_position_embeddings=max_positions, **common)
    elif architecture == "longformer":
        config = LongformerConfig(max_position_embeddings=max_positions + offset, attention_window=[64] * num_layers,
                                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                  sep_token_id=tokenizer.sep_token_id, **common)
    else:
        raise ValueError(f"Unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    model = AutoModelForMaskedLM.from_config(config)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.model_max_length = max_positions  # what the encoder takes, special tokens included
    tokenizer.save_pretrained(output_dir)
    return output_dir


def bootstrap_encoder(texts: List[str], architecture: str, output_dir: Union[str, Path], vocab_size: int = 8000,
                      **sizes) -> int:
    """Train a tokenizer on ``texts`` and save a randomly initialised encoder of ``sizes``
    (``hidden_size``, ``num_layers``, ...: see :func:`build_encoder`) with it; returns the vocabulary size."""
    tokenizer = train_tokenizer(texts, architecture, vocab_size)
    build_encoder(tokenizer, architecture, output_dir, **sizes)
    return len(tokenizer)
