"""Registered thinc architectures wrapping :class:`SubwordCRFTagger` with ``PyTorchWrapper``.

Input: a :class:`~spacy_clinx.windows.WindowBatch`. Output: the emissions of the windows' centre
subwords; the head (``layers/heads.py``) turns them into a loss of gold segments (training) or
decodes each document (prediction). The wrapped module serialises
as one blob holding the encoder config, the tokenizer files, the tag names and all
weights, so a saved pipeline loads with no hub access and no spacy_clinx state.
"""
import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy
import srsly
import torch
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, deserialize_attr, serialize_attr, xp2torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer

from ..device import bf16_fits_this_cpu
from ..tagging import make_tag_names
from ..windows import DocumentWindows, SentenceWindows, WindowBatch, WindowPlan
from .encoder import drop_pooler, load_encoder, quiet_transformers
from .layers import TokenFeatures
from .layers.heads import Head, head_named
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


class SubwordTaggerModel(Model):
    """The architecture's thinc model; gives the tagger's parts by name (as spacy-transformers'
    ``TransformerModel``), so the component never reaches into the wrapper."""

    __slots__ = ()  # thinc's Model has slots: the same layout, so a copy can take this type

    @property
    def tagger(self) -> SubwordCRFTagger:
        """The torch module (tokenizer, tag names, encoder, emission layer, CRF), or a stand-in
        before ``initialize``."""
        return self.layers[0].shims[0]._model

    @property
    def head(self) -> Head:
        return self.attrs["head"]

    @property
    def windows(self) -> WindowPlan:
        return self.attrs["windows"]

    @property
    def train_windows(self) -> WindowPlan:
        """The window plan of training: ``train_windows`` where the config gives one, else ``windows``."""
        plan = self.attrs.get("train_windows")
        return self.attrs["windows"] if plan is None else plan

    @property
    def windows_per_batch(self) -> int:
        return self.attrs["windows_per_batch"]

    @contextlib.contextmanager
    def use_params(self, params: Dict) -> Iterator[None]:
        """The torch weights replaced by ``params`` while in the block, as spaCy does with the
        optimizer's averages (``use_averages = true``) to evaluate and save. thinc's optimizer keys a
        torch parameter by ``(shim id, name)`` but its ``PyTorchShim.use_params`` looks for other keys,
        so without this the averages would be kept and never used."""
        shim = self.layers[0].shims[0]
        found = [(param, params[(shim.id, name)]) for name, param in shim._model.named_parameters()
                 if (shim.id, name) in params]
        wrong = [tuple(param.shape) for param, value in found if tuple(value.shape) != tuple(param.shape)]
        if wrong:
            raise ValueError(f"{len(wrong)} averaged weights do not fit the model (shape {wrong[0]}): averages "
                             "of another model, or of this one before it was initialised again")
        swapped = []
        try:
            for param, value in found:
                swapped.append((param, param.data))
                param.data = xp2torch(value, device=param.device).to(param.dtype)
            with super().use_params(params):
                yield
        finally:
            for param, data in swapped:
                param.data = data

    def copy(self) -> "SubwordTaggerModel":
        copied = super().copy()  # thinc builds a plain Model; the copy keeps this type
        copied.__class__ = SubwordTaggerModel
        return copied


@registry.architectures("spacy_clinx.SubwordTagger.v2")
def build_subword_tagger(
    encoder: str,
    windows: WindowPlan,
    head: Head,
    scheme: str = "BIOES",
    dropout: float = 0.1,
    windows_per_batch: int = 16,
    mixed_precision: bool = False,
    tag_units: str = "subword",
    token_features: Optional[TokenFeatures] = None,
    gradient_checkpointing: bool = False,
    head_learn_rate_scale: float = 1.0,
    cpu_bf16_training: bool = False,
    train_windows: Optional[WindowPlan] = None,
) -> SubwordTaggerModel:
    """``encoder``: HF hub name or local path (used only by ``initialize``, never on load).

    ``windows``: how documents are cut into the encoder's windows (``spacy_clinx.document_windows.v1``:
    centres with document context, the paper's; ``spacy_clinx.sentence_windows.v1``: one sentence, no
    context, the "- context" ablation); ``head``: ``spacy_clinx.crf_head.v1`` (constrained CRF,
    whole-document Viterbi; ``.v2`` can distil an ensemble) or ``spacy_clinx.softmax_head.v1`` (the "- CRF" ablation);
    ``windows_per_batch``: windows per forward pass (training memory is bounded by it: ``update`` runs the
    encoder on that many windows at a time and accumulates their gradients); ``tag_units``: ``subword``
    (every subword is tagged) or ``first_subword`` (each spaCy token's first subword: the "- subword"
    ablation); ``token_features``: a ``spacy_clinx.TokenFeatures.v1`` block (each subword also sees its
    spaCy token's NORM/PREFIX/SUFFIX/SHAPE) or ``.v2`` (the same in token-level context), or none (its
    empty ``attrs`` list gives none);
    ``dropout``: the rate until ``update`` sets its own (``nlp.update(drop=...)``, spaCy's ``[training] dropout``);
    ``gradient_checkpointing``: recompute the encoder's activations in the backward pass instead of
    keeping them (HF ``gradient_checkpointing_enable``): much less training memory for a large encoder,
    about a third more time;
    ``head_learn_rate_scale``: the learning rate of the layers trained from scratch (token features,
    emission layer, CRF) relative to the encoder's (``layer_rates.py``; added after v2's first release,
    its default 1 builds and trains what v2 configs without it did);
    ``cpu_bf16_training``: train the encoder under bfloat16 autocast on a CPU (weights, gradients and the
    optimizer stay float32; the token features, emissions and CRF too): each update takes a fraction of
    the time on CPUs with AVX-512 or AMX, and on a CPU without them it trains in float32 with a warning;
    prediction keeps the component's ``cpu_bf16`` (GPUs: ``mixed_precision``). Added after v2's first
    release; its default trains what v2 configs without it did;
    ``train_windows``: another window plan for training (none: ``windows``), e.g. windows without
    overlap (``context = 0``), each subword encoded once per epoch instead of about twice, while
    prediction keeps every subword's context. Added after v2's first release, like the one above.
    """
    make_tag_names([], scheme)  # validates the scheme name early
    if not head_learn_rate_scale > 0:
        raise ValueError(f"head_learn_rate_scale must be > 0, got {head_learn_rate_scale}")
    if tag_units not in ("subword", "first_subword"):
        raise ValueError(f"Unknown tag_units {tag_units!r}: use 'subword' or 'first_subword'")
    torch_layer = PyTorchWrapper_v3(
        Uninitialized(),
        convert_inputs=convert_window_batch,
        mixed_precision=mixed_precision,
        serialize_model=serialize_tagger,
        deserialize_model=deserialize_tagger,
    )
    return SubwordTaggerModel(
        "clinx_subword_tagger",
        forward,
        init=init,
        layers=[torch_layer],
        attrs={
            "encoder": encoder,
            "windows": windows,
            "head": head,
            "scheme": scheme,
            "dropout_rate": dropout,
            "windows_per_batch": windows_per_batch,
            "tag_units": tag_units,
            "token_features": token_features,
            "gradient_checkpointing": gradient_checkpointing,
            "head_learn_rate_scale": head_learn_rate_scale,
            "cpu_bf16_training": cpu_bf16_training,
            "train_windows": train_windows,
        },
    )


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
) -> SubwordTaggerModel:
    """The first version, as pipelines saved by spacy-clinx 0.1.0 name it: the window plan and the head by
    name (``windows``: ``document`` or ``sentence``; ``head``: ``crf`` or ``softmax``) and the windows'
    ``context``/``centre`` flat. It builds the same model as v2."""
    if windows not in ("document", "sentence"):
        raise ValueError(f"Unknown windows {windows!r}: use 'document' or 'sentence'")
    plan = SentenceWindows(centre) if windows == "sentence" else DocumentWindows(context, centre)
    return build_subword_tagger(encoder, plan, head_named(head), scheme, dropout, windows_per_batch, mixed_precision,
                                tag_units, token_features, gradient_checkpointing)


@serialize_attr.register(Head)
@serialize_attr.register(DocumentWindows)
@serialize_attr.register(SentenceWindows)
def skip_choice(_, value, name: str, model: Model) -> bytes:
    """The window plan and the head are config choices: not saved with the weights (thinc skips an
    attribute whose serializer raises TypeError), so the loading config's choice is the one used."""
    raise TypeError(f"{name} comes from the config")


@deserialize_attr.register(Head)
@deserialize_attr.register(DocumentWindows)
@deserialize_attr.register(SentenceWindows)
def keep_configured_choice(default, value: bytes, name: str, model: Model):
    """Pipelines saved by 0.1.0 hold "document"/"sentence" and "crf"/"softmax" here: their configs
    (v1) build the same choice, so the configured one stays."""
    return default


def forward(model: SubwordTaggerModel, batch: WindowBatch, is_train: bool):
    """Emissions (B, C, K) of the batch's window centres; when training, at the model's dropout rate
    (``set_dropout_rate``) and precision (``cpu_bf16_training``)."""
    if is_train:
        model.tagger.set_dropout(model.attrs["dropout_rate"])
        on_cpu = model.layers[0].shims[0].device.type == "cpu"
        model.tagger.bf16_training = bool(model.attrs.get("cpu_bf16_training") and on_cpu and bf16_fits_this_cpu())
    return model.layers[0](batch, is_train)


def init(model: SubwordTaggerModel, X: Any = None, Y: Optional[List[str]] = None) -> None:
    """Load the pretrained encoder and size the output for the labels ``Y``."""
    if Y is None:
        raise ValueError("clinx_ner needs its entity labels to initialise the model")
    encoder, tokenizer = load_encoder(model.attrs["encoder"])
    tag_names = make_tag_names(Y, model.attrs["scheme"])
    module = SubwordCRFTagger(encoder, tokenizer, tag_names, model.attrs["dropout_rate"], model.head.name,
                              model.attrs["token_features"])
    check_window_fits(module, max(model.windows.longest, model.train_windows.longest))
    if model.attrs["gradient_checkpointing"]:
        module.encoder.gradient_checkpointing_enable()
    shim = model.layers[0].shims[0]
    shim._model = module.to(shim.device)


def get_tagger(model: SubwordTaggerModel) -> SubwordCRFTagger:
    """The torch module inside the thinc model (tokenizer, tag names, encoder)."""
    return model.tagger


def decode_documents(
    model: SubwordTaggerModel, emissions: List[numpy.ndarray], with_scores: bool = False
) -> "tuple[List[numpy.ndarray], Optional[List[numpy.ndarray]]]":
    """Tag ids for whole documents from their per-subword emissions (the head's decoding: one Viterbi
    pass per document for the CRF), and with ``with_scores`` the probability of each chosen tag."""
    return model.head.decode(model.tagger, emissions, model.windows_per_batch, with_scores)


def check_window_fits(module: SubwordCRFTagger, longest: int) -> None:
    n_special = len(module.special_prefix) + len(module.special_suffix)
    limit = max_input_length(module.encoder.config)
    needed = longest + n_special
    if limit is not None and needed > limit:
        raise ValueError(
            f"Windows of {longest} subwords (centre + 2 x context) + {n_special} special tokens = {needed} "
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
    }
    if batch.token_feature_ids is not None:
        kwargs["token_feature_ids"] = xp2torch(batch.token_feature_ids, device=device)
    if batch.token_slots is not None:
        kwargs["token_slots"] = xp2torch(batch.token_slots, device=device)
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
        "transformers_version": transformers.__version__,
        "state": weights.getvalue(),
    }
    return srsly.msgpack_dumps(msg)


class SavedWeightsMismatch(RuntimeError):
    """A saved tagger's weights do not fit the model this installation builds for it."""


def load_weights(tagger: SubwordCRFTagger, state: Dict[str, torch.Tensor], saved_with: Optional[str]) -> None:
    """Load strictly; as spacy-transformers' ``HFShim``, tolerate what transformers versions differ in
    (an encoder's ``position_ids``/``token_type_ids`` buffers, its pooler), with a warning; anything
    else (the emission layer, the CRF, the token features, encoder weights) is a mismatch named in the
    error, never left at random values."""
    try:
        tagger.load_state_dict(state)
        return
    except RuntimeError:
        pass
    result = tagger.load_state_dict(state, strict=False)
    tolerated = ("position_ids", "token_type_ids", "pooler.")
    bad = [k for k in (*result.missing_keys, *result.unexpected_keys)
           if not (k.startswith("encoder.") and any(t in k for t in tolerated))]
    if bad:
        raise SavedWeightsMismatch(
            f"the saved weights do not fit this model ({len(bad)} keys: {', '.join(bad[:5])}); saved with "
            f"transformers {saved_with or 'older than spacy-clinx 0.2'}, this is transformers {transformers.__version__}")
    warnings.warn(f"clinx_ner: loaded weights saved with transformers {saved_with or '?'} (this is "
                  f"{transformers.__version__}), leaving out {', '.join(result.missing_keys + result.unexpected_keys)}")


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
    load_weights(tagger, state, msg.get("transformers_version"))
    if msg.get("gradient_checkpointing"):
        tagger.encoder.gradient_checkpointing_enable()
    return tagger.to(device)
