"""``clinx_ner``: CLIN-X concept extraction as a trainable spaCy component.

Data flow per batch of docs: document text -> subwords (HF fast tokenizer, no
truncation) -> windows (centre + document context) -> model (encoder, emissions,
constrained CRF) -> BIOES tags per subword -> character spans -> ``doc.ents``.
"""
from itertools import accumulate
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import filter_spans
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from ..memory import GrowthRelease
from ..model.architecture import decode_documents, get_tagger
from ..model.layers import subword_feature_ids
from ..tagging import boundary_maps, clip_tags, decode_tags, encode_spans
from ..windows import (SubwordDoc, Window, WindowBatch, first_subwords, group_segments, make_batch,
                       plan_sentence_windows, plan_windows, tokenize_text)
from ..scoring import score_clinx_ner

class PipelineLoadError(OSError):
    """A saved clinx_ner cannot be loaded: a missing or damaged model file."""


CharSpan = Tuple[int, int, str, float]  # start char, end char, label, score (nan if not computed)

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_clinx.SubwordCRFTagger.v1"
encoder = "llange/xlm-roberta-large-spanish-clinical"
context = 100
centre = 200
scheme = "BIOES"
dropout = 0.1
windows_per_batch = 16
mixed_precision = false
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
                   cpu_int8: bool, release_memory_growth_mb: int, scorer: Optional[Callable]):
    """``spans_key``: also store every predicted entity in ``doc.spans[spans_key]``, with its
    confidence (mean CRF marginal probability of its tags) in ``doc.spans[spans_key].attrs["scores"]``.
    ``cpu_bf16``: run the encoder under bfloat16 autocast when predicting on CPU (a speed option for
    CPUs with bf16 instructions; training is unaffected).
    ``cpu_int8``: predict on CPU with a copy of the encoder whose linear layers compute in int8
    (torch dynamic quantization; a speed option, training is unaffected; ``docs/speed.md``).
    ``release_memory_growth_mb``: give the heap memory torch has freed back to the OS (glibc only)
    when the process has grown by more than this many MB since the last time, so that a long
    document's peak memory does not grow with glibc's kept buffers (0: never; ``docs/speed.md``).
    All four are runtime settings, not saved weights:
    ``spacy.load(path, config={"components.clinx_ner.cpu_bf16": True})``."""
    return ClinxNER(nlp.vocab, model, name, spans_key=spans_key, cpu_bf16=cpu_bf16, cpu_int8=cpu_int8,
                    release_memory_growth_mb=release_memory_growth_mb, scorer=scorer)


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

    def subwords(self, texts: Iterable[str], token_docs: Optional[Sequence[Doc]] = None) -> List[SubwordDoc]:
        """Subwords of each text; word-level tagging also needs the texts' spaCy tokens (``token_docs``)."""
        tokenizer = get_tagger(self.model).tokenizer
        if tokenizer is None:
            raise ValueError(f"{self.name} is not initialised: call nlp.initialize() or load a trained pipeline")
        sentences = self.model.attrs["windows"] == "sentence"
        docs = [tokenize_text(tokenizer, text, with_sentences=sentences) for text in texts]
        features = get_tagger(self.model).token_features
        if features is not None:
            if token_docs is None:
                raise ValueError(f"{self.name}: token features need the spaCy tokens of the texts")
            for d, doc in zip(docs, token_docs):
                d.token_features = subword_feature_ids(doc, d.offsets, features.spec)
        if self.model.attrs["tag_units"] == "first_subword":
            if token_docs is None:
                raise ValueError(f"{self.name}: word-level tagging (tag_units = first_subword) needs the spaCy "
                                 "tokens of the texts; it cannot be an ensemble member")
            for d, doc in zip(docs, token_docs):
                d.units = first_subwords(d.offsets, [(t.idx, t.idx + len(t)) for t in doc if not t.is_space])
        return docs

    def windows_for(self, docs: Sequence[SubwordDoc]) -> List[Window]:
        context, centre = self.model.attrs["context"], self.model.attrs["centre"]
        if self.model.attrs["windows"] == "sentence":
            return [w for i, d in enumerate(docs) for w in plan_sentence_windows(i, d.sentences, d.breaks, centre)]
        return [w for i, d in enumerate(docs) for w in plan_windows(i, d.breaks, context, centre)]

    def _batches(self, windows: List[Window]) -> Iterator[List[Window]]:
        """Length-sorted batches: little padding, so little wasted encoder work."""
        size = self.model.attrs["windows_per_batch"]
        ordered = sorted(windows, key=lambda w: w.end - w.start)
        for i in range(0, len(ordered), size):
            yield ordered[i : i + size]

    def _make_batch(self, windows, docs, segments=None, tags=None, tagged=None) -> WindowBatch:
        tagger = get_tagger(self.model)
        pad = tagger.tokenizer.pad_token_id if tagger.tokenizer.pad_token_id is not None else 0
        return make_batch(windows, docs, tagger.special_prefix, tagger.special_suffix, pad, segments, tags, tagged)

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
        tag_names = tagger.tag_names
        out = [numpy.zeros((len(d), len(tag_names)), dtype="float32") for d in subword_docs]
        for batch in self._batches(self.windows_for(subword_docs) if windows is None else windows):
            scores = numpy.asarray(self.model.predict(self._make_batch(batch, subword_docs)))
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
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "ClinxNER.update")
        subword_docs = self.subwords([eg.reference.text for eg in examples], [eg.predicted for eg in examples])
        tagger = get_tagger(self.model)
        tagger.set_dropout(drop)  # as spaCy's pipes: the rate of this update (nlp.update's default: none)
        tagger.drop_int8_copy()
        gold = self._gold_tags(examples, subword_docs)
        windows = self.windows_for(subword_docs)
        if not windows:
            return losses
        tag_names = get_tagger(self.model).tag_names
        first, last = boundary_maps(tag_names)
        # Segments (runs of a document's windows, one CRF sequence each) end where
        # no gold entity continues, if they can.
        continues = [numpy.asarray([tag_names[t][:2] in ("I-", "E-") for t in g] + [False], dtype=bool) for g in gold]
        tagged = [d.tagged for d in subword_docs]
        first_tagged = lambda w, at: int(numpy.searchsorted(tagged[w.doc], at))  # noqa: E731
        max_windows = self.model.attrs["windows_per_batch"]
        segments = group_segments(windows, max_windows,
                                  lambda w: not continues[w.doc][first_tagged(w, w.centre_start)])
        segments = [seg for seg in segments if first_tagged(seg[0], seg[0].centre_start)
                    < first_tagged(seg[-1], seg[-1].centre_end)]  # a segment with no tagged position
        total = 0.0
        d_loss = numpy.asarray(1.0 / len(windows), dtype="float32")
        for batch_segments in pack_segments(segments, max_windows):
            batch_windows = [w for seg in batch_segments for w in seg]
            ends = list(accumulate(len(seg) for seg in batch_segments))
            positions = [list(range(end - len(seg), end)) for seg, end in zip(batch_segments, ends)]
            seg_tags = [clip_tags(gold[seg[0].doc][first_tagged(seg[0], seg[0].centre_start):
                                                   first_tagged(seg[-1], seg[-1].centre_end)], first, last)
                        for seg in batch_segments]
            picks = [tagged[w.doc][first_tagged(w, w.centre_start):first_tagged(w, w.centre_end)] - w.centre_start
                     for w in batch_windows]
            loss, backprop = self.model.begin_update(
                self._make_batch(batch_windows, subword_docs, positions, seg_tags, picks))
            if not numpy.isfinite(float(loss)):
                ids = sorted({str(examples[w.doc].reference.user_data.get("doc_id", w.doc)) for w in batch_windows})
                raise FloatingPointError(f"{self.name}: the loss is {float(loss)} on documents {ids}; lower the "
                                         "learning rate or check these documents. No update was applied.")
            backprop(d_loss)
            total += float(loss)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += total / len(windows)
        return losses

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
        except (ValueError, RuntimeError, EOFError, KeyError, TypeError, OSError) as err:
            size = model_file.stat().st_size if model_file.exists() else 0
            raise PipelineLoadError(f"{model_file} ({size:,} bytes) could not be read: {type(err).__name__}: "
                                    f"{str(err)[:200]}. The file is damaged or incomplete (an interrupted copy or "
                                    "download?); save the pipeline again or reinstall its package.") from None

    def get_loss(self, examples, scores):
        raise NotImplementedError("clinx_ner computes its CRF loss inside the model, in update()")


def find_clinx_component(nlp: Language) -> "ClinxNER":
    """The pipeline's one ``clinx_ner`` (a ValueError naming the pipeline if it has none or several)."""
    found = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinxNER)]
    if len(found) != 1:
        raise ValueError(f"the pipeline must hold exactly one clinx_ner component; it has {len(found)} "
                         f"({', '.join(nlp.pipe_names) or 'no components'})")
    return found[0]


def pack_segments(segments: List[List[Window]], max_windows: int) -> Iterator[List[List[Window]]]:
    """Greedy batches of whole segments with at most ``max_windows`` windows each."""
    batch: List[List[Window]] = []
    size = 0
    for seg in sorted(segments, key=lambda seg: max(w.end - w.start for w in seg)):
        if batch and size + len(seg) > max_windows:
            yield batch
            batch, size = [], 0
        batch.append(seg)
        size += len(seg)
    if batch:
        yield batch


def place_spans(doc: Doc, char_spans: Sequence[CharSpan]) -> Tuple[List, List[float]]:
    """Spans of ``doc`` for character spans (grown to token boundaries), and their scores."""
    placed = [(doc.char_span(s, e, label=label, alignment_mode="expand"), score) for s, e, label, score in char_spans]
    placed = [(span, score) for span, score in placed if span is not None]
    return [span for span, _ in placed], [score for _, score in placed]


def to_char_spans(doc: SubwordDoc, tags: Sequence[str], probs: Optional[numpy.ndarray] = None) -> List[CharSpan]:
    """Character spans of decoded subword spans, ignoring subwords with empty offsets.

    An entity's score is the mean CRF marginal probability of its tags.
    """
    out = []
    tagged_offsets = doc.tagged_offsets
    for first, last, label in decode_tags(tags):
        offsets = tagged_offsets[first:last]
        offsets = offsets[offsets[:, 1] > offsets[:, 0]]
        if len(offsets):
            score = float(numpy.mean(probs[first:last])) if probs is not None else float("nan")
            out.append((int(offsets[0, 0]), int(offsets[-1, 1]), label, score))
    return out
