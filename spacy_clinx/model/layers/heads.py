"""Heads: how the tagger's per-subword tag scores (emissions) become a training loss and, at
prediction time, one tag per subword.

``crf`` is the paper's constrained CRF: the loss is the negative log-likelihood of each gold
segment, and every document is decoded in one Viterbi pass, so window cuts never split an
entity. Distilling an ensemble (``teacher_weight`` > 0), the loss mixes in the cross-entropy
against the teachers' mean marginals that the training documents carry (``workflow/teach.py``).
``softmax`` is the "- CRF" ablation: cross-entropy per subword, argmax decoding. Both read and train
the tagger's own parameters (the CRF's transitions live in the torch module and are saved with it),
so a head holds no weights and choosing one is a config choice.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy
import torch
from spacy.util import registry
from thinc.api import torch2xp, xp2torch
from thinc.types import Floats3d

from ...windows import WindowBatch

#: Viterbi batches pad every document to the longest one; a batch holds at most ``max_docs``
#: documents and at most this many padded positions (a longer document is decoded alone), so one
#: long document does not pad its batch-mates to its length.
DECODE_POSITIONS = 2**16

Decoded = Tuple[List[numpy.ndarray], Optional[List[numpy.ndarray]]]

#: where a training document carries its teachers' marginals: ``{"tags": [...], "marginals": (n, K)}``
TEACHER_KEY = "clinx_teacher"


class Head:
    """The part of a tagger after the emissions; ``name`` is what a saved tagger records."""

    name = ""

    def segment_loss(self, tagger, scores: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
                     targets: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Summed loss of gold ``tags`` (S, T) for segment scores (S, T, K) where ``mask`` is on;
        ``targets`` (S, T, K): teachers' tag distributions, when the documents carry them."""
        raise NotImplementedError

    def decode(self, tagger, emissions: List[numpy.ndarray], max_docs: int, with_scores: bool) -> Decoded:
        """Tag ids of each document (and with ``with_scores`` the probability of each chosen tag)."""
        raise NotImplementedError

    def get_loss(self, tagger, batch: WindowBatch, emissions: Floats3d) -> "HeadLoss":
        """The loss of the batch's gold segments, times ``batch.weight``, its gradient for the emissions
        (B, C, K), and the gradients of the head's own parameters (the CRF's transitions), which the
        caller adds after backpropagating the emissions' gradient through the encoder (so a mixed
        precision grad scaler, which unscales every gradient of the module, never sees them)."""
        device = tagger.crf.transitions.device
        scores = xp2torch(emissions, requires_grad=True, device=device)
        flat = scores.float().reshape(-1, scores.shape[-1])
        index, mask, tags = (xp2torch(a, device=device) for a in (batch.segment_index, batch.segment_mask, batch.tags))
        targets = None if batch.teacher is None else xp2torch(batch.teacher, device=device)
        loss = self.segment_loss(tagger, flat[index], tags, mask, targets) * batch.weight
        if not torch.isfinite(loss):
            return HeadLoss(float(loss.detach()), emissions, [])  # the caller raises before any update
        params = list(tagger.crf.parameters())
        d_scores, *d_params = torch.autograd.grad(loss, [scores, *params], allow_unused=True)
        return HeadLoss(float(loss.detach()), torch2xp(d_scores),
                        [(p, g) for p, g in zip(params, d_params) if g is not None])


class HeadLoss(NamedTuple):
    value: float
    d_emissions: Floats3d
    d_params: List[Tuple[torch.nn.Parameter, torch.Tensor]]

    def add_param_gradients(self) -> None:
        """Accumulate the head's parameter gradients, for the optimizer's ``finish_update``."""
        for param, grad in self.d_params:
            param.grad = grad.detach() if param.grad is None else param.grad + grad


class CRFHead(Head):
    name = "crf"

    def __init__(self, teacher_weight: float = 0.0):
        if not 0.0 <= teacher_weight <= 1.0:
            raise ValueError(f"teacher_weight must be between 0 and 1, got {teacher_weight}")
        self.teacher_weight = teacher_weight

    def segment_loss(self, tagger, scores, tags, mask, targets=None):
        nll = tagger.crf.nll(scores, tags, mask)
        if not self.teacher_weight:
            return nll
        if targets is None:
            raise ValueError(f"the CRF head distils (teacher_weight {self.teacher_weight}) but the training "
                             "documents carry no teacher marginals: make them with `spacy_clinx teach`")
        soft = tagger.crf.soft_cross_entropy(scores, targets, mask)
        return (1.0 - self.teacher_weight) * nll + self.teacher_weight * soft

    def decode(self, tagger, emissions, max_docs, with_scores):
        crf = tagger.crf
        empty = numpy.zeros(0, dtype=numpy.int64)
        tags: List[numpy.ndarray] = [empty] * len(emissions)
        scores: List[numpy.ndarray] = [empty.astype("float32")] * len(emissions)
        device = crf.transitions.device
        for chunk in decode_batches([len(e) for e in emissions], max_docs, DECODE_POSITIONS):
            padded, mask = pad_emissions([emissions[i] for i in chunk])
            padded_t, mask_t = torch.from_numpy(padded).to(device), torch.from_numpy(mask).to(device)
            with torch.no_grad():
                paths = crf.viterbi(padded_t, mask_t)
                probs = crf.marginals(padded_t, mask_t) if with_scores else None
            for row, i in enumerate(chunk):
                n = len(emissions[i])
                tags[i] = paths[row, :n].cpu().numpy()
                if probs is not None:
                    chosen = torch.gather(probs[row, :n], 1, paths[row, :n].to(device).unsqueeze(1)).squeeze(1)
                    scores[i] = chosen.cpu().numpy()
        return tags, (scores if with_scores else None)


class SoftmaxHead(Head):
    name = "softmax"

    def segment_loss(self, tagger, scores, tags, mask, targets=None):
        return torch.nn.functional.cross_entropy(scores[mask], tags[mask], reduction="sum")

    def decode(self, tagger, emissions, max_docs, with_scores):
        """Per-subword argmax (spans are repaired by the lenient BIOES decoding) and its probability."""
        tags = [e.argmax(-1).astype(numpy.int64) if len(e) else numpy.zeros(0, dtype=numpy.int64) for e in emissions]
        if not with_scores:
            return tags, None
        scores = []
        for e in emissions:
            z = numpy.exp(e - e.max(-1, keepdims=True)) if len(e) else e
            scores.append((z.max(-1) / z.sum(-1)).astype("float32") if len(e) else numpy.zeros(0, dtype="float32"))
        return tags, scores


@registry.misc("spacy_clinx.crf_head.v1")
def create_crf_head() -> Head:
    return CRFHead()


@registry.misc("spacy_clinx.crf_head.v2")
def create_crf_head_v2(teacher_weight: float = 0.0) -> Head:
    """v1's CRF; ``teacher_weight`` w > 0 distils: the loss is (1 - w) times the gold tags' negative
    log-likelihood plus w times the cross-entropy against the teachers' marginals (at w = 1 the
    transitions stay as initialised: they learn from the gold tags only)."""
    return CRFHead(teacher_weight)


@registry.misc("spacy_clinx.softmax_head.v1")
def create_softmax_head() -> Head:
    return SoftmaxHead()


HEADS = {head.name: head for head in (CRFHead(), SoftmaxHead())}


def head_named(name: str) -> Head:
    """The head a saved tagger or a v1 config names."""
    if name not in HEADS:
        raise ValueError(f"Unknown head {name!r}: use {' or '.join(repr(n) for n in HEADS)}")
    return HEADS[name]


def decode_batches(lengths: List[int], max_docs: int, max_positions: int) -> List[List[int]]:
    """Indices of the non-empty documents grouped for padded decoding, shortest first: each
    group has at most ``max_docs`` documents and ``len(group) * longest <= max_positions``
    (or one document)."""
    order = sorted((i for i, n in enumerate(lengths) if n), key=lambda i: lengths[i])
    groups: List[List[int]] = []
    for i in order:
        if groups and len(groups[-1]) < max_docs and (len(groups[-1]) + 1) * lengths[i] <= max_positions:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def pad_emissions(emissions: List[numpy.ndarray]) -> "tuple[numpy.ndarray, numpy.ndarray]":
    """(B, T, K) float32 emissions padded to the longest and their (B, T) mask; a lone
    document is a view, not a copy (a long document's emissions are its largest array)."""
    if len(emissions) == 1:
        only = numpy.ascontiguousarray(emissions[0], dtype="float32")
        return only[None], numpy.ones((1, len(only)), dtype=bool)
    length = max(len(e) for e in emissions)
    padded = numpy.zeros((len(emissions), length, emissions[0].shape[1]), dtype="float32")
    mask = numpy.zeros((len(emissions), length), dtype=bool)
    for row, e in enumerate(emissions):
        padded[row, : len(e)] = e
        mask[row, : len(e)] = True
    return padded, mask
