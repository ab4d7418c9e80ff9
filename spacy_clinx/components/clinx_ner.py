"""``clinx_ner``: CLIN-X concept extraction as a trainable spaCy component.

Data flow per batch of docs: document text -> subwords (HF fast tokenizer, no
truncation) -> windows (centre + document context) -> model (encoder, emissions,
constrained CRF) -> BIOES tags per subword -> character spans -> ``doc.ents``.
"""
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import filter_spans
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats3d

from ..memory import GrowthRelease
from ..model.architecture import SavedWeightsMismatch, decode_documents, get_tagger
from ..model.layer_rates import head_rates
from ..model.layers.heads import TEACHER_KEY, HeadLoss
from ..model.layers import subword_feature_ids, subword_tokens
from ..subwords import SubwordDoc, first_subwords, tokenize_text
from ..tagging import encode_spans
from ..tagging.spans import CharSpan, place_spans, to_char_spans
from ..windows import Special, Window, WindowBatch, WindowPlan, gold_batches, length_sorted_batches, make_batch
from ..scoring import score_clinx_ner

class PipelineLoadError(OSError):
    """A saved clinx_ner cannot be loaded: a missing or damaged model file."""


DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_clinx.SubwordTagger.v2"
encoder = "llange/xlm-roberta-large-spanish-clinical"
scheme = "BIOES"
dropout = 0.1
windows_per_batch = 16
mixed_precision = false

[model.windows]
@misc = "spacy_clinx.document_windows.v1"
context = 100
centre = 200

[model.head]
@misc = "spacy_clinx.crf_head.v1"
"""
)["model"]


@Language.factory(
    "clinx_ner",
    assigns=["doc.ents"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": None,
        "cpu_bf16": False,
        "cpu_int8": False,
        "cpu_onnx": False,
        "release_memory_growth_mb": 256,
        "scorer": {"@scorers": "spacy_clinx.ner_scorer.v1"},
    },
    default_score_weights={
        "spans_char_f": 1.0,
        "spans_char_p": 0.0,
        "spans_char_r": 0.0,
        "ents_f": None,
        "ents_p": None,
        "ents_r": None,
        "ents_per_type": None,
        "spans_char_per_type": None,
    },
)
def make_clinx_ner(nlp: Language, name: str, model: Model, spans_key: Optional[str], cpu_bf16: bool,
                   cpu_int8: bool, cpu_onnx: bool, release_memory_growth_mb: int, scorer: Optional[Callable]):
    """``spans_key``: also store every predicted entity in ``doc.spans[spans_key]``, with its
    confidence (mean CRF marginal probability of its tags) in ``doc.spans[spans_key].attrs["scores"]``.
    ``cpu_bf16``: run the encoder under bfloat16 autocast when predicting on CPU (a speed option for
    CPUs with bf16 instructions; training is unaffected).
    ``cpu_int8``: predict on CPU with the encoder exported to ONNX Runtime and quantized to int8 at
    the first prediction (``pip install 'spacy-clinx[onnx]'``; a speed option, training is
    unaffected; ``docs/speed.md``). Its windows go through the encoder one at a time, so a note's
    scores never depend on the notes batched with it (int8 activations are scaled per pass).
    ``cpu_onnx``: the same export in float32 (no faster than torch for the small encoders measured);
    ``cpu_bf16`` does not apply to either.
    ``release_memory_growth_mb``: give the heap memory torch has freed back to the OS (glibc only)
    when the process has grown by more than this many MB since the last time, so that a long
    document's peak memory does not grow with glibc's kept buffers (0: never; ``docs/speed.md``).
    All five are runtime settings, not saved weights:
    ``spacy.load(path, config={"components.clinx_ner.cpu_bf16": True})``."""
    return ClinxNER(nlp.vocab, model, name, spans_key=spans_key, cpu_bf16=cpu_bf16, cpu_int8=cpu_int8,
                    cpu_onnx=cpu_onnx, release_memory_growth_mb=release_memory_growth_mb, scorer=scorer)


class ClinxNER(TrainablePipe):
    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "clinx_ner",
        *,
        spans_key: Optional[str] = None,
        cpu_bf16: bool = False,
        cpu_int8: bool = False,
        cpu_onnx: bool = False,
        release_memory_growth_mb: int = 256,
        scorer: Optional[Callable] = score_clinx_ner,
    ):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.spans_key = spans_key  # runtime settings: not in cfg, which from_disk restores
        self.cpu_bf16 = cpu_bf16
        self.cpu_int8 = cpu_int8
        self.cpu_onnx = cpu_onnx
        self.release_memory_growth_mb = release_memory_growth_mb
        self.cfg: Dict = {"labels": []}

    @property
    def release_memory_growth_mb(self) -> int:
        return self.release_memory.margin_mb

    @release_memory_growth_mb.setter
    def release_memory_growth_mb(self, margin_mb: int) -> None:
        if margin_mb < 0:
            raise ValueError(f"{self.name}: release_memory_growth_mb must be 0 (never) or a number of MB, "
                             f"not {margin_mb}")
        self.release_memory = GrowthRelease(margin_mb)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        if get_tagger(self.model).tokenizer is not None:
            raise ValueError(f"{self.name}: cannot add label {label!r} after the model is initialised")
        self.cfg["labels"] = sorted(self.cfg["labels"] + [label])
        return 1

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, labels=None) -> None:
        validate_get_examples(get_examples, "ClinxNER.initialize")
        if labels is None:
            labels = sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents})
        if not labels:
            raise ValueError(f"{self.name}: the training examples have no entities, so there are no labels to learn")
        self.cfg["labels"] = sorted(labels)
        self.model.initialize(Y=self.cfg["labels"])

    # -- shared by training and prediction ---------------------------------

    def subwords(self, texts: Iterable[str], token_docs: Optional[Sequence[Doc]] = None,
                 plan: Optional[WindowPlan] = None) -> List[SubwordDoc]:
        """Subwords of each text, with sentence starts where the window ``plan`` they are cut by needs them
        (default: the model's prediction windows); word-level tagging also needs the texts' spaCy tokens
        (``token_docs``)."""
        tokenizer = get_tagger(self.model).tokenizer
        if tokenizer is None:
            raise ValueError(f"{self.name} is not initialised: call nlp.initialize() or load a trained pipeline")
        sentences = (self.model.windows if plan is None else plan).needs_sentences
        docs = [tokenize_text(tokenizer, text, with_sentences=sentences) for text in texts]
        features = get_tagger(self.model).token_features
        if features is not None:
            if token_docs is None:
                raise ValueError(f"{self.name}: token features need the spaCy tokens of the texts")
            for d, doc in zip(docs, token_docs):
                tokens = subword_tokens(doc, d.offsets)
                d.token_features = subword_feature_ids(doc, d.offsets, features.spec, tokens)
                d.token_index = tokens if features.spec.depth else None
        if self.model.attrs["tag_units"] == "first_subword":
            if token_docs is None:
                raise ValueError(f"{self.name}: word-level tagging (tag_units = first_subword) needs the spaCy "
                                 "tokens of the texts; it cannot be an ensemble member")
            for d, doc in zip(docs, token_docs):
                d.units = first_subwords(d.offsets, [(t.idx, t.idx + len(t)) for t in doc if not t.is_space])
        return docs

    def special(self) -> Special:
        tagger = get_tagger(self.model)
        tokenizer = tagger.tokenizer
        return Special(tagger.special_prefix, tagger.special_suffix,
                       tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)

    # -- prediction --------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> List[List[CharSpan]]:
        docs = list(docs)
        subword_docs = self.subwords([doc.text for doc in docs], docs)
        tag_ids, probs = self.decode(subword_docs, self.emissions(subword_docs), with_scores=bool(self.spans_key))
        tag_names = get_tagger(self.model).tag_names
        probs = probs or [None] * len(subword_docs)
        return [to_char_spans(d, [tag_names[t] for t in ids], p) for d, ids, p in zip(subword_docs, tag_ids, probs)]

    def emissions(self, subword_docs: Sequence[SubwordDoc], windows: Optional[List[Window]] = None) -> List[numpy.ndarray]:
        """Per-subword tag scores of each document, each subword scored in the centre of one window."""
        tagger = get_tagger(self.model)
        tagger.cpu_bf16 = self.cpu_bf16
        tagger.cpu_int8 = self.cpu_int8
        tagger.cpu_onnx = self.cpu_onnx
        tag_names = tagger.tag_names
        out = [numpy.zeros((len(d), len(tag_names)), dtype="float32") for d in subword_docs]
        special = self.special()
        windows = self.model.windows(subword_docs) if windows is None else windows
        for batch in length_sorted_batches(windows, self.model.windows_per_batch):
            scores = self.model.ops.to_numpy(self.model.predict(make_batch(batch, subword_docs, special)))
            for row, w in zip(scores, batch):
                out[w.doc][w.centre_start : w.centre_end] = row[: w.centre_end - w.centre_start]
            self.release_memory()
        return out

    def decode(self, subword_docs, emissions, with_scores: bool = False):
        """Whole-document Viterbi tag ids of the tagged positions (and CRF marginals of the chosen tags)."""
        emissions = [e if d.units is None else e[d.units] for d, e in zip(subword_docs, emissions)]
        return decode_documents(self.model, emissions, with_scores=with_scores)

    def set_annotations(self, docs: Iterable[Doc], predictions: List[List[CharSpan]]) -> None:
        for doc, char_spans in zip(docs, predictions):
            spans, scores = place_spans(doc, char_spans)
            doc.ents = filter_spans(spans)
            if self.spans_key:
                group = SpanGroup(doc, name=self.spans_key, spans=spans)
                group.attrs["scores"] = scores
                doc.spans[self.spans_key] = group

    # -- training ----------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """As spaCy's Tagger: gold batches -> dropout -> begin_update -> get_loss -> backprop, then the
        optimizer. The encoder runs on at most ``windows_per_batch`` windows at a time; their gradients
        add up before the one optimizer step, and the loss is the mean per window of the update."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "ClinxNER.update")
        batches = self.gold_batches(examples)
        set_dropout_rate(self.model, drop)
        for batch in batches:
            emissions, backprop = self.model.begin_update(batch)
            loss = self.get_loss(batch, emissions)
            if not numpy.isfinite(loss.value):
                ids = sorted({str(examples[d].reference.user_data.get("doc_id", d)) for d in batch.docs})
                raise FloatingPointError(f"{self.name}: the loss is {loss.value} on documents {ids}; lower the "
                                         "learning rate or check these documents. No update was applied.")
            backprop(loss.d_emissions)
            loss.add_param_gradients()  # the CRF's transitions
            losses[self.name] += loss.value
        if sgd is not None:
            self.finish_update(sgd)
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """The optimizer step, the head at its own rate (``head_learn_rate_scale``); the ONNX Runtime copy
        of the encoder is made again at the next prediction."""
        super().finish_update(head_rates(sgd, self.model.attrs.get("head_learn_rate_scale", 1.0)))
        get_tagger(self.model).drop_inference_copies()

    def use_params(self, params: dict):
        """spaCy evaluates and saves under the optimizer's averaged weights: the inference copies follow
        them. A generator, as TrainablePipe's: ``Language.use_params`` steps through it."""
        tagger = get_tagger(self.model)
        tagger.drop_inference_copies()
        try:
            with self.model.use_params(params):
                yield
        finally:
            tagger.drop_inference_copies()

    def get_loss(self, batch: WindowBatch, emissions: Floats3d) -> HeadLoss:
        """The head's loss of the batch's gold segments (the CRF's negative log-likelihood), its gradient
        for the emissions, and the gradients of the CRF's own parameters. As Tagger's ``get_loss(examples,
        scores)``, with the batch in place of the examples: its gold segments cut across documents."""
        return self.model.head.get_loss(get_tagger(self.model), batch, emissions)

    def gold_batches(self, examples: Sequence[Example]) -> List[WindowBatch]:
        """Training batches of the examples' windows with their gold tags (``windows.gold_batches``) and,
        when the head distils, the teachers' marginals the reference documents carry."""
        plan = self.model.train_windows
        subword_docs = self.subwords([eg.reference.text for eg in examples], [eg.predicted for eg in examples], plan)
        gold = self._gold_tags(examples, subword_docs)
        distils = getattr(self.model.head, "teacher_weight", 0.0) > 0
        teacher = self._teacher_marginals(examples, subword_docs) if distils else None
        return gold_batches(plan(subword_docs), subword_docs, gold, get_tagger(self.model).tag_names,
                            self.model.windows_per_batch, self.special(), teacher)

    def _teacher_marginals(self, examples: Sequence[Example], subword_docs: Sequence[SubwordDoc]) -> List[numpy.ndarray]:
        """Per document, the teachers' tag distributions (n_tagged, K) from ``doc.user_data[TEACHER_KEY]``
        (``workflow/teach.py``), checked against this model's tags and subwords."""
        tag_names = tuple(get_tagger(self.model).tag_names)
        out = []
        for eg, d in zip(examples, subword_docs):
            doc_id = eg.reference.user_data.get("doc_id", "?")
            teacher = eg.reference.user_data.get(TEACHER_KEY)
            if teacher is None:
                raise ValueError(f"{self.name}: document {doc_id!r} carries no teacher marginals; distilling needs "
                                 "training documents made by `spacy_clinx teach`")
            if tuple(teacher["tags"]) != tag_names:
                differ = next((f"{a!r} against {b!r}" for a, b in zip(teacher["tags"], tag_names) if a != b),
                              f"{len(teacher['tags'])} tags against {len(tag_names)}")
                raise ValueError(f"{self.name}: document {doc_id!r}: the teachers' tags are not this model's "
                                 f"({differ}): teach with the same labels")
            marginals = numpy.asarray(teacher["marginals"], dtype=numpy.float32)
            if marginals.shape != (len(d.tagged), len(tag_names)):
                raise ValueError(f"{self.name}: document {doc_id!r}: teacher marginals for {marginals.shape[0]} "
                                 f"positions, the model tags {len(d.tagged)}: the teachers used another "
                                 "tokenizer or tagging unit than this model's encoder")
            out.append(marginals / numpy.maximum(marginals.sum(-1, keepdims=True), 1e-6))  # stored in float16
        return out

    def _gold_tags(self, examples: Sequence[Example], subword_docs: Sequence[SubwordDoc]) -> List[numpy.ndarray]:
        """Gold tag ids per subword from each reference's ``doc.ents`` character offsets."""
        tag_index = {t: i for i, t in enumerate(get_tagger(self.model).tag_names)}
        gold = []
        for eg, d in zip(examples, subword_docs):
            spans = [(e.start_char, e.end_char, e.label_) for e in eg.reference.ents]
            unknown = {label for *_, label in spans} - set(self.labels)
            if unknown:
                doc_id = eg.reference.user_data.get("doc_id", "?")
                raise ValueError(f"{self.name}: document {doc_id!r} has labels {sorted(unknown)} that the "
                                 f"model was not initialised with ({list(self.labels)})")
            tags = encode_spans(d.tagged_offsets, spans, self.model.attrs["scheme"])
            gold.append(numpy.asarray([tag_index[t] for t in tags], dtype=numpy.int64))
        return gold

    def from_disk(self, path, *, exclude: Iterable[str] = ()) -> "ClinxNER":
        """As TrainablePipe's, with an error naming the file when the model data is missing or damaged."""
        model_file = Path(path) / "model"
        if "model" not in exclude and not model_file.exists():
            raise PipelineLoadError(f"{model_file} is missing: the pipeline folder is incomplete. Save it again "
                                    "with nlp.to_disk, or reinstall the pipeline package.")
        try:
            return super().from_disk(path, exclude=exclude)
        except SavedWeightsMismatch as err:
            raise PipelineLoadError(f"{model_file}: {err}. Load it with the spacy-clinx and transformers versions "
                                    "it was saved with (its meta.json), or train it again.") from None
        except (ValueError, RuntimeError, EOFError, KeyError, TypeError, OSError) as err:
            size = model_file.stat().st_size if model_file.exists() else 0
            raise PipelineLoadError(f"{model_file} ({size:,} bytes) could not be read: {type(err).__name__}: "
                                    f"{str(err)[:200]}. The file is damaged or incomplete (an interrupted copy or "
                                    "download?); save the pipeline again or reinstall its package.") from None

def find_clinx_component(nlp: Language) -> "ClinxNER":
    """The pipeline's one ``clinx_ner`` (a ValueError naming the pipeline if it has none or several)."""
    found = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinxNER)]
    if len(found) != 1:
        raise ValueError(f"the pipeline must hold exactly one clinx_ner component; it has {len(found)} "
                         f"({', '.join(nlp.pipe_names) or 'no components'})")
    return found[0]
