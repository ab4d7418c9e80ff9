"""Tiny encoders and trained pipelines built in the test session from the MEDDOCAN fixtures."""
from pathlib import Path
from typing import List

import spacy
from spacy.language import Language
from spacy.training import Example

from spacy_clinx.corpora import ConversionReport, brat_dir_to_docs
from spacy_clinx.encoders import build_encoder, train_tokenizer
from spacy_clinx.scoring import char_strict_prf
from spacy_clinx.tokenizer import create_char_class_tokenizer

# The environment of a CLI subprocess: offline, one torch thread, nothing else inherited.
SUBPROCESS_ENV = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}

# Small windows so that fixture documents (about 300-1,000 subwords) are cut into many.
TINY_MODEL = {"windows": {"@misc": "spacy_clinx.document_windows.v1", "context": 16, "centre": 32},
              "windows_per_batch": 8, "dropout": 0.0}
SOFTMAX_HEAD = {"head": {"@misc": "spacy_clinx.softmax_head.v1"}}
SENTENCE_WINDOWS = {"windows": {"@misc": "spacy_clinx.sentence_windows.v1", "centre": 32}}


def blank_nlp() -> Language:
    nlp = spacy.blank("es")
    nlp.tokenizer = create_char_class_tokenizer(nlp)
    return nlp


def make_nlp(encoder_path, **model) -> Language:
    nlp = blank_nlp()
    nlp.add_pipe("clinx_ner", config={"model": {"encoder": str(encoder_path), **TINY_MODEL, **model}})
    return nlp


def gold_examples(nlp: Language, brat_dir: Path) -> List[Example]:
    docs = list(brat_dir_to_docs(nlp, [brat_dir], ConversionReport()))
    return [Example(nlp.make_doc(d.text), d) for d in docs]


def tiny_encoder(architecture: str, texts: List[str], path: Path) -> Path:
    tokenizer = train_tokenizer(texts, architecture, vocab_size=600)
    return build_encoder(tokenizer, architecture, path, hidden_size=64, num_layers=2, num_heads=2,
                         intermediate_size=128, max_positions=128)


def train_until_perfect(nlp: Language, examples: List[Example], max_epochs: int = 200, learn_rate: float = 2e-3):
    """Train on ``examples`` until strict char F1 on them is 1.0; returns (epochs, F1)."""
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = learn_rate
    f1 = 0.0
    for epoch in range(1, max_epochs + 1):
        nlp.update(examples, sgd=optimizer)
        if epoch % 5 == 0:
            predicted = nlp.pipe(eg.reference.text for eg in examples)
            f1 = char_strict_prf([Example(p, eg.reference) for p, eg in zip(predicted, examples)])["spans_char_f"]
            if f1 == 1.0:
                return epoch, f1
    return max_epochs, f1
