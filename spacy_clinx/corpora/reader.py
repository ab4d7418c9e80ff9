"""``spacy_clinx.BratCorpus.v1``: train or evaluate straight from brat directories in a spaCy config."""
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import srsly

from spacy.language import Language
from spacy.training import Example
from spacy.util import registry
from wasabi import msg

from .docs import ConversionReport, brat_dir_to_docs


@registry.readers("spacy_clinx.BratCorpus.v1")
def create_brat_corpus_reader(path: Path, limit: int = 0) -> Callable[[Language], Iterator[Example]]:
    """Examples from a brat directory; problems are printed once, nothing is skipped silently."""
    warned = []

    def read(nlp: Language) -> Iterator[Example]:
        report = ConversionReport()
        for i, doc in enumerate(brat_dir_to_docs(nlp, [path], report)):
            if limit and i >= limit:
                break
            yield Example(nlp.make_doc(doc.text), doc)
        if report.problems and not warned:
            warned.append(True)
            msg.warn(f"{path}: {len(report.problems)} annotation problems\n{report.summary()}")

    return read


@registry.readers("spacy_clinx.labels.v1")
def read_label_list(path: Optional[str] = None) -> Optional[List[str]]:
    """The entity labels to initialise with (a JSON list), or None to take them from the
    training examples. Split models need the labels of all splits, or rare labels that
    miss one split would give that model another tag set than its ensemble partners."""
    if not path:
        return None
    if not Path(path).exists():
        raise FileNotFoundError(f"label file {path} does not exist")
    return list(srsly.read_json(path))
