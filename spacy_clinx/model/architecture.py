"""Registered thinc architecture wrapping :class:`SubwordCRFTagger` with ``PyTorchWrapper``.

Input: a :class:`~spacy_clinx.windows.WindowBatch`. Output: the summed CRF loss when
training with gold tags, the centre emissions otherwise (decoded per document by
:func:`decode_documents`). The wrapped module serialises
as one blob holding the encoder config, the tokenizer files, the tag names and all
weights, so a saved pipeline loads with no hub access and no spacy_clinx state.
"""
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
import srsly
import torch
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, xp2torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from ..tagging import make_tag_names
from ..windows import WindowBatch
from .encoder import drop_pooler, load_encoder, quiet_transformers
from .layers import TokenFeatures
from .tagger import SubwordCRFTagger, Uninitialized


def _one_torch_thread_in_forked_workers() -> None:
    """``nlp.pipe(n_process=N)`` forks workers; torch's OpenMP pool does not survive a fork
    and the worker would hang in its first parallel op. One thread per worker process
    avoids that, and with one worker per core it is also the fastest setting."""
    torch.set_num_threads(1)


def _no_tokenizers_parallelism_across_fork() -> None:
    """HF tokenizers warns at every fork unless told; clinx encodes one text per call,
    so its Rust-side parallelism is not used anyway."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


os.register_at_fork(before=_no_tokenizers_parallelism_across_fork, after_in_child=_one_torch_thread_in_forked_workers)


@registry.architectures("spacy_clinx.SubwordCRFTagger.v1")
def build_subword_crf_tagger(
    encoder: str,
    context: int = 100,
    centre: int = 200,
    scheme: str = "BIOES",
    dropout: float = 0.1,
    windows_per_batch: int = 16,
    mixed_precision: bool = False,
    head: str = "crf",
    windows: str = "document",
    tag_units: str = "subword",
    token_features: Optional[TokenFeatures] = None,
    gradient_checkpointing: bool = False,
) -> Model[WindowBatch, Any]:
    """``encoder``: HF hub name or local path (used only by ``initialize``, never on load).

    ``context``: subwords of document context on each side of a window's centre;
    ``centre``: subwords predicted per window; ``windows_per_batch``: windows per forward pass;
    ``head``: ``crf`` (constrained CRF, whole-document Viterbi) or ``softmax`` (the "- CRF" ablation);
    ``windows``: ``document`` (centre + document context) or ``sentence`` (one sentence per window,
    no context: the "- context" ablation); ``tag_units``: ``subword`` (every subword is tagged) or
    ``first_subword`` (word-level tagging on each spaCy token's first subword: the "- subword" ablation);
    ``token_features``: a ``spacy_clinx.TokenFeatures.v1`` block (each subword also sees its spaCy token's
    NORM/PREFIX/SUFFIX/SHAPE), or none (its empty ``attrs`` list gives none);
    ``gradient_checkpointing``: recompute the encoder's activations in the backward pass instead of
    keeping them (HF ``gradient_checkpointing_enable``): much less training memory for a large encoder,
    about a third more time. Training memory is also bounded by ``windows_per_batch``: ``update``
    runs the encoder on that many windows at a time and accumulates their gradients.
    """
    torch_layer = PyTorchWrapper_v3(
        Uninitialized(),
        convert_inputs=convert_window_batch,
        mixed_precision=mixed_precision,
        serialize_model=serialize_tagger,
        deserialize_model=deserialize_tagger,
    )
    make_tag_names([], scheme)  # validates the scheme name early
    if head not in ("crf", "softmax"):
        raise ValueError(f"Unknown head {head!r}: use 'crf' or 'softmax'")
    if windows not in ("document", "sentence"):
        raise ValueError(f"Unknown windows {windows!r}: use 'document' or 'sentence'")
    if tag_units not in ("subword", "first_subword"):
        raise ValueError(f"Unknown tag_units {tag_units!r}: use 'subword' or 'first_subword'")
    return Model(
        "clinx_subword_crf",
        forward,
        init=init,
        layers=[torch_layer],
        attrs={
            "encoder": encoder,
            "context": context,
            "centre": centre,
            "scheme": scheme,
            "dropout": dropout,
            "windows_per_batch": windows_per_batch,
            "head": head,
            "windows": windows,
            "tag_units": tag_units,
            "token_features": token_features,
            "gradient_checkpointing": gradient_checkpointing,
        },
    )


def forward(model: Model, batch: WindowBatch, is_train: bool):
    return model.layers[0](batch, is_train)


def init(model: Model, X: Any = None, Y: Optional[List[str]] = None) -> None:
    """Load the pretrained encoder and size the output for the labels ``Y``."""
    if Y is None:
        raise ValueError("clinx_ner needs its entity labels to initialise the model")
    encoder, tokenizer = load_encoder(model.attrs["encoder"])
    tag_names = make_tag_names(Y, model.attrs["scheme"])
    module = SubwordCRFTagger(encoder, tokenizer, tag_names, model.attrs["dropout"], model.attrs["head"],
                              model.attrs["token_features"])
    check_window_fits(module, model.attrs["context"], model.attrs["centre"])
    if model.attrs["gradient_checkpointing"]:
        module.encoder.gradient_checkpointing_enable()
    shim = model.layers[0].shims[0]
    shim._model = module.to(shim.device)


def get_tagger(model: Model) -> SubwordCRFTagger:
    """The torch module inside the thinc model (tokenizer, tag names, encoder)."""
    return model.layers[0].shims[0]._model


#: Viterbi batches pad every document to the longest one; a batch holds at most
#: ``windows_per_batch`` documents and at most this many padded positions (a longer
#: document is decoded alone), so one long document does not pad its batch-mates to its length.
DECODE_POSITIONS = 2**16


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


def decode_documents(
    model: Model, emissions: List[numpy.ndarray], with_scores: bool = False
) -> "tuple[List[numpy.ndarray], Optional[List[numpy.ndarray]]]":
    """Viterbi tag ids for whole documents from their per-subword emissions, and with
    ``with_scores`` the CRF marginal probability of each chosen tag."""
    tagger = get_tagger(model)
    if tagger.head == "softmax":
        return softmax_decode(emissions, with_scores)
    crf = tagger.crf
    empty = numpy.zeros(0, dtype=numpy.int64)
    tags: List[numpy.ndarray] = [empty] * len(emissions)
    scores: List[numpy.ndarray] = [empty.astype("float32")] * len(emissions)
    for chunk in decode_batches([len(e) for e in emissions], model.attrs["windows_per_batch"], DECODE_POSITIONS):
        padded, mask = pad_emissions([emissions[i] for i in chunk])
        device = crf.transitions.device
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


def softmax_decode(emissions: List[numpy.ndarray], with_scores: bool):
    """Per-subword argmax (spans are repaired by the lenient BIOES decoding) and its probability."""
    tags = [e.argmax(-1).astype(numpy.int64) if len(e) else numpy.zeros(0, dtype=numpy.int64) for e in emissions]
    if not with_scores:
        return tags, None
    scores = []
    for e in emissions:
        z = numpy.exp(e - e.max(-1, keepdims=True)) if len(e) else e
        scores.append((z.max(-1) / z.sum(-1)).astype("float32") if len(e) else numpy.zeros(0, dtype="float32"))
    return tags, scores


def check_window_fits(module: SubwordCRFTagger, context: int, centre: int) -> None:
    n_special = len(module.special_prefix) + len(module.special_suffix)
    limit = max_input_length(module.encoder.config)
    needed = centre + 2 * context + n_special
    if limit is not None and needed > limit:
        raise ValueError(
            f"Windows of centre {centre} + 2 x context {context} + {n_special} special tokens = {needed} "
            f"subwords exceed the encoder's limit of {limit}; lower `centre` or `context`."
        )


def max_input_length(config) -> Optional[int]:
    """Subwords the encoder can take in one pass (special tokens included), from its HF config."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    # RoBERTa-family models reserve padding_idx + 1 position ids.
    if config.model_type in {"roberta", "xlm-roberta", "longformer", "camembert"}:
        positions -= config.pad_token_id + 1
    return positions


def convert_window_batch(model: Model, batch: WindowBatch, is_train: bool):
    device = model.shims[0].device
    kwargs = {
        "input_ids": xp2torch(batch.input_ids, device=device),
        "attention_mask": xp2torch(batch.attention_mask, device=device),
        "centre_index": xp2torch(batch.centre_index, device=device),
        "centre_mask": xp2torch(batch.centre_mask, device=device),
    }
    if batch.token_feature_ids is not None:
        kwargs["token_feature_ids"] = xp2torch(batch.token_feature_ids, device=device)
    if is_train and batch.tags is not None:
        for name in ("segment_index", "segment_mask", "tags"):
            kwargs[name] = xp2torch(getattr(batch, name), device=device)
    return ArgsKwargs(args=(), kwargs=kwargs), lambda d_inputs: None


def serialize_tagger(module: Any) -> bytes:
    if isinstance(module, Uninitialized):
        return srsly.msgpack_dumps({"initialized": False})
    with tempfile.TemporaryDirectory() as tmp:
        module.tokenizer.save_pretrained(tmp)
        tokenizer_files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    weights = io.BytesIO()
    torch.save(module.state_dict(), weights)
    msg: Dict[str, Any] = {
        "initialized": True,
        "encoder_config": module.encoder.config.to_json_string(),
        "tokenizer_files": tokenizer_files,
        "tag_names": module.tag_names,
        "dropout": module.dropout.p,
        "head": module.head,
        "token_features": module.token_features.spec.to_dict() if module.token_features is not None else None,
        "gradient_checkpointing": bool(getattr(module.encoder, "is_gradient_checkpointing", False)),
        "state": weights.getvalue(),
    }
    return srsly.msgpack_dumps(msg)


def deserialize_tagger(module: Any, data: bytes, device: "torch.device") -> Any:
    msg = srsly.msgpack_loads(data)
    if not msg["initialized"]:
        return module
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(msg["encoder_config"], encoding="utf8")
        for name, content in msg["tokenizer_files"].items():
            Path(tmp, name).write_bytes(content)
        with quiet_transformers():
            config = AutoConfig.from_pretrained(tmp)
            tokenizer = AutoTokenizer.from_pretrained(tmp, use_fast=True)
            encoder = drop_pooler(AutoModel.from_config(config))
    features = msg.get("token_features")
    tagger = SubwordCRFTagger(encoder, tokenizer, msg["tag_names"], msg["dropout"], msg.get("head", "crf"),
                              TokenFeatures(**features) if features else None)
    state = torch.load(io.BytesIO(msg["state"]), map_location=device, weights_only=True)
    tagger.load_state_dict(state)
    if msg.get("gradient_checkpointing"):
        tagger.encoder.gradient_checkpointing_enable()
    return tagger.to(device)
