"""``clinx_ensemble``: majority vote per subword over several trained ``clinx_ner`` pipelines.

The members are the fold models of the random splits (paper 3.3). They must share
the subword tokenizer and the tag set, so each document is tokenised and cut into
windows once; every member then scores the same windows, decodes its own Viterbi
path, and the paths are voted per subword. Each member's own entities can be kept
in ``doc.spans`` for inspection. Saved with the pipeline, the members travel inside
its directory (``member0/``, ``member1/``...), so a packaged ensemble needs no paths.
"""
import hashlib
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import spacy
import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, SpanGroup
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ..model.architecture import get_tagger
from ..scoring import score_clinx_ner
from ..subwords import SubwordDoc
from ..tagging.spans import place_spans, to_char_spans
from ..windows import Window
from .clinx_ner import ClinxNER, find_clinx_component
from .majority_vote import majority_vote


class EnsembleError(ValueError):
    """The members cannot be combined (missing, not clinx_ner pipelines, or incompatible)."""


@Language.factory(
    "clinx_ensemble",
    assigns=["doc.ents"],
    default_config={
        "members": [],
        "member_spans_prefix": None,
        "scorer": {"@scorers": "spacy_clinx.ner_scorer.v1"},
    },
    default_score_weights={"spans_char_f": 1.0, "spans_char_p": 0.0, "spans_char_r": 0.0, "ents_f": None,
                           "ents_p": None, "ents_r": None, "ents_per_type": None, "spans_char_per_type": None},
)
def make_clinx_ensemble(nlp: Language, name: str, members: List[str], member_spans_prefix: Optional[str],
                        scorer: Optional[Callable]):
    """``members``: paths (or installed package names) of trained pipelines with a ``clinx_ner``.
    ``member_spans_prefix``: also keep member i's entities in ``doc.spans[f"{prefix}{i}"]``."""
    return ClinxEnsemble(nlp.vocab, name, members, member_spans_prefix=member_spans_prefix, scorer=scorer)


class ClinxEnsemble(Pipe):
    def __init__(self, vocab: Vocab, name: str = "clinx_ensemble", members: Sequence[Union[str, Path]] = (), *,
                 member_spans_prefix: Optional[str] = None, scorer: Optional[Callable] = score_clinx_ner):
        self.vocab = vocab
        self.name = name
        self.member_paths = [str(m) for m in members]
        self.member_spans_prefix = member_spans_prefix
        self.scorer = scorer
        self.cfg: Dict = {"labels": []}
        self._pipelines: Optional[List[Language]] = None  # loaded on first use or by from_disk

    # -- members -----------------------------------------------------------

    @property
    def members(self) -> List[ClinxNER]:
        """The ``clinx_ner`` component of each member pipeline."""
        if self._pipelines is None:
            self._pipelines = [load_member(path) for path in self.member_paths]
            self._check_members()
        return [clinx_ner_of(nlp) for nlp in self._pipelines]

    @property
    def labels(self):
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.labels)

    def initialize(self, get_examples: Optional[Callable] = None, *, nlp: Optional[Language] = None) -> None:
        """Load and check the members now rather than at the first document."""
        self._pipelines = None
        self.members  # noqa: B018  (loads and validates)

    def _check_members(self) -> None:
        members = [clinx_ner_of(nlp) for nlp in self._pipelines or []]
        if not members:
            raise EnsembleError(f"{self.name}: no members; set `members` to the paths of trained clinx_ner pipelines")
        names = self.member_paths or [f"member{i}" for i in range(len(members))]
        first = describe(members[0])
        for name, member in zip(names[1:], members[1:]):
            other = describe(member)
            for key, what in (("tokenizer", "subword tokenizer"), ("tag_names", "labels/tagging scheme"),
                              ("windows", "context/centre window sizes"), ("token features", "token features")):
                if other[key] != first[key]:
                    detail = ""
                    if key == "tag_names":
                        detail = (f" (only in {names[0]}: {sorted(set(first[key]) - set(other[key]))}; only in "
                                  f"{name}: {sorted(set(other[key]) - set(first[key]))})")
                    elif key == "windows":
                        detail = f" ({first[key]} vs {other[key]})"
                    raise EnsembleError(f"{self.name}: member {name} has a different {what} than member "
                                        f"{names[0]}{detail}. Ensemble members must be trained from the same "
                                        "encoder with the same labels and window sizes.")
        self.cfg["labels"] = list(members[0].labels)

    # -- prediction --------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128):
        from spacy.util import minibatch

        for docs in minibatch(stream, size=batch_size):
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def member_inputs(self, docs: Sequence[Doc]) -> Tuple[List[SubwordDoc], List[Window]]:
        """The subwords and windows of ``docs`` that every member predicts on (made once for all)."""
        members = self.members
        # token features are those of the members' own tokens, whatever tokenizer this pipeline has
        uses_tokens = get_tagger(members[0].model).token_features is not None
        token_docs = [self._pipelines[0].make_doc(doc.text) for doc in docs] if uses_tokens else docs
        subword_docs = members[0].subwords([doc.text for doc in docs], token_docs)
        return subword_docs, members[0].model.windows(subword_docs)

    def predict(self, docs: Iterable[Doc]) -> Dict[str, List]:
        members = self.members
        docs = list(docs)
        subword_docs, windows = self.member_inputs(docs)
        member_tags = [m.decode(subword_docs, m.emissions(subword_docs, windows))[0] for m in members]
        tag_names = get_tagger(members[0].model).tag_names
        voted = []
        for i, d in enumerate(subword_docs):
            ids, agreement = majority_vote([tags[i] for tags in member_tags], len(tag_names))
            voted.append(to_char_spans(d, [tag_names[t] for t in ids], agreement))
        per_member = None
        if self.member_spans_prefix is not None:
            per_member = [[to_char_spans(d, [tag_names[t] for t in tags[i]]) for i, d in enumerate(subword_docs)]
                          for tags in member_tags]
        return {"voted": voted, "members": per_member}

    def set_annotations(self, docs: Iterable[Doc], predictions: Dict[str, List]) -> None:
        for i, (doc, char_spans) in enumerate(zip(docs, predictions["voted"])):
            doc.ents = filter_spans(place_spans(doc, char_spans)[0])
            if predictions["members"] is not None:
                for m, member_spans in enumerate(predictions["members"]):
                    key = f"{self.member_spans_prefix}{m}"
                    doc.spans[key] = SpanGroup(doc, name=key, spans=place_spans(doc, member_spans[i])[0])

    # -- serialisation: members are saved inside the component's directory --

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.members  # noqa: B018  (loads them if needed)
        for i, nlp in enumerate(self._pipelines):
            nlp.to_disk(member_folder(path, i))
        srsly.write_json(path / "cfg", {**self.cfg, "n_members": len(self._pipelines)})

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = ()) -> "ClinxEnsemble":
        path = Path(path)
        cfg_path = path / "cfg"
        if not cfg_path.exists():
            raise EnsembleError(f"{self.name}: {path} is not a saved clinx_ensemble (no cfg file)")
        cfg = srsly.read_json(cfg_path)
        self._pipelines = [load_member(member_folder(path, i)) for i in range(cfg.pop("n_members"))]
        self.member_paths = []
        self._check_members()
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        raise NotImplementedError("clinx_ensemble saves its member pipelines as directories: use nlp.to_disk")


def member_folder(path: Union[str, Path], i: int) -> Path:
    """Where a saved clinx_ensemble (its component folder ``path``) keeps member ``i``; its ``cfg``
    file says how many there are (``n_members``)."""
    return Path(path) / f"member{i}"


def load_member(path: Union[str, Path]) -> Language:
    """A saved pipeline (a directory or an installed package name) holding one ``clinx_ner``."""
    try:
        nlp = spacy.load(path)
    except OSError as err:
        raise EnsembleError(f"Cannot load ensemble member {path}: {err}") from err
    clinx_ner_of(nlp, path)
    return nlp


def clinx_ner_of(nlp: Language, path: Union[str, Path, None] = None) -> ClinxNER:
    try:
        return find_clinx_component(nlp)
    except ValueError as err:
        raise EnsembleError(f"Ensemble member {path or nlp.meta.get('name')}: {err}") from None


def describe(member: ClinxNER) -> Dict:
    """What must agree between members: tokenizer, tags and windows."""
    tagger = get_tagger(member.model)
    vocab = tagger.tokenizer.backend_tokenizer.to_str()
    features = tagger.token_features.spec.to_dict() if tagger.token_features is not None else None
    if features:
        features.pop("dropout")  # a training setting: members may differ in it
    return {"tokenizer": hashlib.sha256(vocab.encode("utf8")).hexdigest(), "tag_names": list(tagger.tag_names),
            "windows": member.model.windows, "token features": features}
