"""A spaCy tokenizer fine enough that entity boundaries never fall inside a token.

Clinical annotations start and end at places a word tokenizer does not split:
``28016.`` (postal code then full stop), ``NºCol:28`` or ``5-7``. This tokenizer
splits every run of letters from every run of digits and makes each punctuation
or symbol character a token of its own, so gold and predicted character spans
map to tokens exactly. It is spaCy's own :class:`~spacy.tokenizer.Tokenizer`
with different rules, so it is fast and serialises with the pipeline.
"""
import re

from spacy.tokenizer import Tokenizer
from spacy.util import registry

# A single character that is neither a letter, a digit nor whitespace.
_SYMBOL = r"[^\w\s]|_"
_PREFIX = re.compile(rf"^(?:{_SYMBOL})")
_SUFFIX = re.compile(rf"(?:{_SYMBOL})$")
# Symbols inside a word, and the empty boundaries between letters and digits.
_INFIX = re.compile(rf"{_SYMBOL}|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def create_char_class_tokenizer(nlp) -> Tokenizer:
    return Tokenizer(
        nlp.vocab,
        rules={},
        prefix_search=_PREFIX.search,
        suffix_search=_SUFFIX.search,
        infix_finditer=_INFIX.finditer,
    )


@registry.tokenizers("spacy_clinx.CharClassTokenizer.v1")
def make_char_class_tokenizer():
    """Config entry point: ``[nlp.tokenizer] @tokenizers = "spacy_clinx.CharClassTokenizer.v1"``."""
    return create_char_class_tokenizer
