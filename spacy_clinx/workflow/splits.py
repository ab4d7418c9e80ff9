"""Training splits (paper 3.3): train+dev merged and cut into n random parts by document.

Split ``i`` trains on the other n-1 parts and selects its model on part ``i``. The
"standard" split keeps the official train/dev; "all" trains on train+dev and keeps the
official dev only for the training log (no model selection). A corpus without dev documents
gets its random parts from train alone, and "standard" then holds out one seeded part of train
(1/n_parts of its documents) for model selection.
"""
import json
import random
import shutil
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import srsly
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

SCHEMES = ("random", "standard", "all")
SPLITS_JSON = "splits.json"  # the scheme, seed and document ids of a splits folder


def random_parts(n_docs: int, n_parts: int, seed: int) -> List[List[int]]:
    """Document indices shuffled with ``seed`` and dealt into ``n_parts`` parts of near-equal size."""
    if n_parts < 2:
        raise ValueError(f"need at least 2 parts for random splits, got {n_parts}")
    if n_docs < n_parts:
        raise ValueError(f"cannot cut {n_docs} documents into {n_parts} parts: each part needs a document")
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    return [sorted(order[i::n_parts]) for i in range(n_parts)]


def make_splits(train: Sequence[Doc], dev: Sequence[Doc], scheme: str = "random", n_parts: int = 5,
                seed: int = 0) -> List[Tuple[List[Doc], List[Doc]]]:
    """(train docs, model-selection docs) per split."""
    if scheme == "standard":
        if not dev:
            held_out = set(random_parts(len(train), n_parts, seed)[0])
            return [([d for i, d in enumerate(train) if i not in held_out], [train[i] for i in sorted(held_out)])]
        return [(list(train), list(dev))]
    if scheme == "all":
        return [(list(train) + list(dev), list(dev))]
    if scheme != "random":
        raise ValueError(f"unknown split scheme {scheme!r}: use one of {SCHEMES}")
    docs = list(train) + list(dev)
    parts = random_parts(len(docs), n_parts, seed)
    return [([docs[j] for k, part in enumerate(parts) if k != i for j in part], [docs[j] for j in parts[i]])
            for i in range(n_parts)]


def write_splits(train_path: Path, dev_path: Path, output: Path, scheme: str = "random", n_parts: int = 5,
                 seed: int = 0) -> List[Dict]:
    """Write ``output/split{i}/{train,dev}.spacy`` and ``output/labels.json`` (the labels of all
    splits together); returns the document ids per split."""
    vocab = Vocab()
    train = list(DocBin().from_disk(train_path).get_docs(vocab))
    dev = list(DocBin().from_disk(dev_path).get_docs(vocab))
    labels = sorted({ent.label_ for doc in train + dev for ent in doc.ents})
    output.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output / "labels.json", labels)
    summary = []
    for i, (split_train, split_dev) in enumerate(make_splits(train, dev, scheme, n_parts, seed)):
        folder = output / f"split{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, docs in (("train", split_train), ("dev", split_dev)):
            DocBin(docs=docs, store_user_data=True).to_disk(folder / f"{name}.spacy")
        summary.append({"split": i, "train": [doc_id(d) for d in split_train], "dev": [doc_id(d) for d in split_dev]})
    return summary


def split_corpus(train_path: Path, dev_path: Path, output: Path, scheme: str = "random", n_parts: int = 5,
                 seed: int = 0) -> List[Dict]:
    """The splits step: ``output`` made afresh (no split of an earlier run left over), the splits
    written (:func:`write_splits`) and recorded in ``output/splits.json``; returns the document ids."""
    shutil.rmtree(output, ignore_errors=True)
    summary = write_splits(train_path, dev_path, output, scheme, n_parts, seed)
    (output / SPLITS_JSON).write_text(json.dumps({"scheme": scheme, "seed": seed, "splits": summary}, indent=1))
    return summary


def split_scheme(splits_dir: Path) -> str:
    """The scheme a splits folder was cut with (it decides which checkpoint each split keeps)."""
    return json.loads((Path(splits_dir) / SPLITS_JSON).read_text())["scheme"]


def doc_id(doc: Doc) -> str:
    return str(doc.user_data.get("doc_id", ""))
