"""Token features for every subword: the containing spaCy token's NORM, PREFIX, SUFFIX and SHAPE.

A small encoder trained from scratch on a few hundred thousand words sees a rare surname or a record
number as arbitrary subword pieces; spaCy's CNN ``ner`` sees every token's lexical attributes. This
layer gives each subword the hashed embeddings of its token's attributes (as spaCy's
``MultiHashEmbed``: four hash functions per attribute, their rows summed), mixed into one vector
that is added to the encoder's input embeddings (so attention can use word identity and shape) and
joined with the encoder's output before the emission layer. The input projection starts at zero, so a
pretrained encoder starts from its own behaviour.

Feature ids are computed in numpy when a document is subworded (:func:`subword_feature_ids`) and
travel in the window batch beside the subword ids; row 0 of every table means "no token" (special
tokens, padding, whitespace).
"""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy
import torch
from spacy.attrs import IDS as ATTR_IDS
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import NumpyOps
from torch import nn

#: hash functions per attribute, as thinc's HashEmbed
N_HASHES = 4


@dataclass(frozen=True)
class TokenFeatures:
    """Which token attributes feed every subword, the table size of each, and the widths."""

    attrs: Sequence[str]
    rows: Sequence[int]
    width: int = 64
    output_width: int = 128
    dropout: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "attrs", tuple(a.upper() for a in self.attrs))
        object.__setattr__(self, "rows", tuple(int(r) for r in self.rows))
        unknown = [a for a in self.attrs if a not in ATTR_IDS]
        if unknown:
            raise ValueError(f"Unknown token attribute(s) {unknown}: use spaCy attribute names such as NORM, "
                             "PREFIX, SUFFIX, SHAPE, LOWER")
        if len(self.rows) != len(self.attrs):
            raise ValueError(f"token features: {len(self.attrs)} attrs but {len(self.rows)} row counts")
        if any(r < 2 for r in self.rows):
            raise ValueError(f"token features: every table needs at least 2 rows, got {list(self.rows)}")

    @property
    def n_columns(self) -> int:
        return len(self.attrs) * N_HASHES

    def to_dict(self) -> Dict:
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in asdict(self).items()}


@registry.misc("spacy_clinx.TokenFeatures.v1")
def create_token_features(
    attrs: List[str] = ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
    rows: List[int] = [5000, 1000, 2500, 2500],
    width: int = 64,
    output_width: int = 128,
    dropout: float = 0.1,
) -> Optional[TokenFeatures]:
    """``attrs``: spaCy token attributes (spaCy's ``ner`` configs use NORM, PREFIX, SUFFIX, SHAPE), or
    none: no token features (``rows`` is then ignored);
    ``rows``: hash-table rows per attribute; ``width``: embedding width per attribute;
    ``output_width``: width of the mixed feature vector joined with the encoder output."""
    if not attrs:
        return None
    return TokenFeatures(attrs, rows, width, output_width, dropout)


def subword_feature_ids(doc: Doc, offsets: numpy.ndarray, spec: TokenFeatures) -> numpy.ndarray:
    """(n_subwords, attrs * 4) int32 table rows: the hashed attributes of the spaCy token that holds
    each subword's first character; 0 where no token does (empty or whitespace subwords)."""
    out = numpy.zeros((len(offsets), spec.n_columns), dtype=numpy.int32)
    if not len(doc) or not len(offsets):
        return out
    values = doc.to_array([ATTR_IDS[a] for a in spec.attrs]).reshape(len(doc), -1).astype(numpy.uint64)
    ops = NumpyOps()
    token_rows = numpy.concatenate(
        [(ops.hash(numpy.ascontiguousarray(values[:, k]), k).astype(numpy.int64) % (spec.rows[k] - 1)) + 1
         for k in range(len(spec.attrs))], axis=1)  # (n_tokens, attrs * 4)
    starts = numpy.asarray([t.idx for t in doc], dtype=numpy.int64)
    ends = starts + numpy.asarray([len(t) for t in doc], dtype=numpy.int64)
    solid = ~numpy.asarray([t.is_space for t in doc], dtype=bool)
    token = numpy.searchsorted(starts, offsets[:, 0], side="right") - 1
    ok = (offsets[:, 1] > offsets[:, 0]) & (token >= 0)
    token = numpy.maximum(token, 0)
    ok &= (offsets[:, 0] < ends[token]) & solid[token]
    out[ok] = token_rows[token[ok]]
    return out


class TokenFeatureEmbed(nn.Module):
    """Hashed attribute embeddings -> one mixed vector per position; its projection onto the
    encoder's input embeddings starts at zero."""

    def __init__(self, spec: TokenFeatures, hidden_size: int):
        super().__init__()
        self.spec = spec
        self.tables = nn.ModuleList(nn.Embedding(n, spec.width, padding_idx=0) for n in spec.rows)
        self.mix = nn.Sequential(nn.Linear(len(spec.rows) * spec.width, spec.output_width),
                                 nn.LayerNorm(spec.output_width), nn.GELU())
        self.dropout = nn.Dropout(spec.dropout)
        self.to_input = nn.Linear(spec.output_width, hidden_size)
        nn.init.zeros_(self.to_input.weight)
        nn.init.zeros_(self.to_input.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L, attrs * 4) table rows -> (B, L, output_width)."""
        ids = ids.long().view(*ids.shape[:-1], len(self.tables), N_HASHES)
        parts = [table(ids[..., k, :]).sum(-2) for k, table in enumerate(self.tables)]
        return self.dropout(self.mix(torch.cat(parts, dim=-1)))
