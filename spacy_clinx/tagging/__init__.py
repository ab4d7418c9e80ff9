"""Tagging schemes: character spans <-> per-subword BIOES (or BIO) tags."""
from .bioes import (
    OUTSIDE,
    allowed_transitions,
    boundary_maps,
    clip_distributions,
    clip_tags,
    decode_tags,
    encode_spans,
    make_tag_names,
)

__all__ = ["OUTSIDE", "allowed_transitions", "boundary_maps", "clip_distributions", "clip_tags", "decode_tags", "encode_spans", "make_tag_names"]
