"""Token features for every subword: the containing spaCy token's NORM, PREFIX, SUFFIX and SHAPE.

A small encoder trained from scratch on a few hundred thousand words sees a rare surname or a record
number as arbitrary subword pieces; spaCy's CNN ``ner`` sees every token's lexical attributes. This
layer gives each subword the hashed embeddings of its token's attributes (as spaCy's
``MultiHashEmbed``: four hash functions per attribute, their rows summed), mixed into one vector
that is added to the encoder's input embeddings (so attention can use word identity and shape) and
joined with the encoder's output before the emission layer. The input projection starts at zero, so a
pretrained encoder starts from its own behaviour.

``spacy_clinx.TokenFeatures.v2`` also gives the features token-level context before they are joined,
as spaCy's CNN ``ner`` does: the mixed vectors of a window's tokens (one per spaCy token, however
many subwords it has) pass through spaCy's ``MaxoutWindowEncoder`` (``depth`` residual layers, each a
maxout over a token and its ``window_size`` neighbours on each side, then layer norm), and every
subword gets its token's result. v1 (``depth`` 0) joins each token's own features, no context.

Feature ids are computed in numpy when a document is subworded (:func:`subword_feature_ids`) and
travel in the window batch beside the subword ids; row 0 of every table means "no token" (special
tokens, padding, whitespace). With context, the batch also carries each subword's token slot in its
window (:func:`subword_tokens`, ``windows.make_batch``).
"""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy
import torch
from spacy.attrs import IDS as ATTR_IDS, IDX, IS_SPACE, LENGTH
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
    depth: int = 0  # token-level window-encoder layers over the mixed features (0: none, v1)
    window_size: int = 1  # neighbours on each side a layer looks at
    maxout_pieces: int = 3

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
        if self.depth < 0 or self.window_size < 1 or self.maxout_pieces < 1:
            raise ValueError(f"token features: depth must be >= 0 and window_size, maxout_pieces >= 1 (got "
                             f"{self.depth}, {self.window_size}, {self.maxout_pieces})")

    @property
    def n_columns(self) -> int:
        return len(self.attrs) * N_HASHES

    def to_dict(self) -> Dict:
        """Saved with the weights; without context, without its settings, as 0.1.0 saved it (so that
        release loads a v1 pipeline saved by this one)."""
        out = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in asdict(self).items()}
        if not self.depth:
            for key in ("depth", "window_size", "maxout_pieces"):
                out.pop(key)
        return out


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
    return create_token_features_in_context(attrs, rows, width, output_width, dropout, depth=0)


@registry.misc("spacy_clinx.TokenFeatures.v2")
def create_token_features_in_context(
    attrs: List[str] = ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
    rows: List[int] = [5000, 1000, 2500, 2500],
    width: int = 64,
    output_width: int = 128,
    dropout: float = 0.1,
    depth: int = 4,
    window_size: int = 1,
    maxout_pieces: int = 3,
) -> Optional[TokenFeatures]:
    """v1's features, then spaCy's ``MaxoutWindowEncoder`` over the window's tokens (its ``ner``
    defaults: ``depth`` 4, ``window_size`` 1, ``maxout_pieces`` 3; ``output_width`` is its width);
    ``depth`` 0 is v1."""
    if not attrs:
        return None
    return TokenFeatures(attrs, rows, width, output_width, dropout, depth, window_size, maxout_pieces)


def subword_tokens(doc: Doc, offsets: numpy.ndarray) -> numpy.ndarray:
    """(n_subwords,) int64: 1 + the index of the spaCy token that holds each subword's first
    character; 0 where no token does (empty or whitespace subwords)."""
    out = numpy.zeros(len(offsets), dtype=numpy.int64)
    if not len(doc) or not len(offsets):
        return out
    columns = doc.to_array([IDX, LENGTH, IS_SPACE]).astype(numpy.int64)  # no Token objects made
    starts, ends, solid = columns[:, 0], columns[:, 0] + columns[:, 1], columns[:, 2] == 0
    token = numpy.searchsorted(starts, offsets[:, 0], side="right") - 1
    ok = (offsets[:, 1] > offsets[:, 0]) & (token >= 0)
    token = numpy.maximum(token, 0)
    ok &= (offsets[:, 0] < ends[token]) & solid[token]
    out[ok] = token[ok] + 1
    return out


def subword_feature_ids(doc: Doc, offsets: numpy.ndarray, spec: TokenFeatures,
                        tokens: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """(n_subwords, attrs * 4) int32 table rows: the hashed attributes of the spaCy token that holds
    each subword's first character; 0 where no token does. ``tokens``: ``subword_tokens`` if known."""
    out = numpy.zeros((len(offsets), spec.n_columns), dtype=numpy.int32)
    if not len(doc) or not len(offsets):
        return out
    values = doc.to_array([ATTR_IDS[a] for a in spec.attrs]).reshape(len(doc), -1).astype(numpy.uint64)
    ops = NumpyOps()
    token_rows = numpy.concatenate(
        [(ops.hash(numpy.ascontiguousarray(values[:, k]), k).astype(numpy.int64) % (spec.rows[k] - 1)) + 1
         for k in range(len(spec.attrs))], axis=1)  # (n_tokens, attrs * 4)
    token = subword_tokens(doc, offsets) if tokens is None else tokens
    ok = token > 0
    out[ok] = token_rows[token[ok] - 1]
    return out


class MaxoutWindowEncoder(nn.Module):
    """spaCy's ``MaxoutWindowEncoder`` over token vectors: ``depth`` times, a residual maxout over each
    token and its ``window_size`` neighbours on each side, then layer norm. Unlike spaCy's, whose
    context is the whole document and counts whitespace tokens, the context ends at the encoder
    window's edge, and whitespace tokens are empty slots: zero, as padding is."""

    def __init__(self, width: int, depth: int, window_size: int, pieces: int):
        super().__init__()
        self.pieces = pieces
        self.convs = nn.ModuleList(nn.Conv1d(width, width * pieces, 2 * window_size + 1, padding=window_size)
                                   for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, T, W) token vectors, (B, T, 1) 1 where a token is -> (B, T, W)."""
        x = tokens * present
        for conv, norm in zip(self.convs, self.norms):
            h = conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, W * pieces)
            h = h.view(*h.shape[:-1], -1, self.pieces).amax(-1)
            x = x + norm(h) * present
        return x


class TokenFeatureEmbed(nn.Module):
    """Hashed attribute embeddings -> one mixed vector per position; its projection onto the
    encoder's input embeddings starts at zero."""

    def __init__(self, spec: TokenFeatures, hidden_size: int):
        super().__init__()
        self.spec = spec
        self.tables = nn.ModuleList(nn.Embedding(n, spec.width, padding_idx=0) for n in spec.rows)
        self.mix = nn.Sequential(nn.Linear(len(spec.rows) * spec.width, spec.output_width),
                                 nn.LayerNorm(spec.output_width), nn.GELU())
        self.context = (MaxoutWindowEncoder(spec.output_width, spec.depth, spec.window_size, spec.maxout_pieces)
                        if spec.depth else None)
        self.dropout = nn.Dropout(spec.dropout)
        self.to_input = nn.Linear(spec.output_width, hidden_size)
        nn.init.zeros_(self.to_input.weight)
        nn.init.zeros_(self.to_input.bias)

    def forward(self, ids: torch.Tensor, slots: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, L, attrs * 4) table rows -> (B, L, output_width). With context, ``slots`` (B, L) is each
        position's token in its window (1, 2, ...; 0: none): the features are pooled per token (a
        token's subwords share them), encoded over the token sequence and handed back to every subword."""
        ids = ids.long().view(*ids.shape[:-1], len(self.tables), N_HASHES)
        parts = [table(ids[..., k, :]).sum(-2) for k, table in enumerate(self.tables)]
        mixed = self.mix(torch.cat(parts, dim=-1))
        if self.context is not None:
            if slots is None:
                raise ValueError("token features with context need the batch's token slots")
            index = slots.long().unsqueeze(-1).expand_as(mixed)
            width = int(slots.max()) + 1
            tokens = mixed.new_zeros(mixed.shape[0], width, mixed.shape[-1])
            tokens = tokens.scatter_reduce(1, index, mixed, reduce="mean", include_self=False)
            present = torch.zeros_like(tokens[..., :1]).scatter_(1, slots.long().unsqueeze(-1), 1.0)
            present[:, 0] = 0.0
            mixed = torch.gather(self.context(tokens, present), 1, index)
        return self.dropout(mixed)
