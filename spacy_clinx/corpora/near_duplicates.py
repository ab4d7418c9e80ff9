"""Keep test documents out of masked-LM text: exact and near duplicates of the documents a model is
scored on are dropped from the unlabeled notes before the encoder learns from them.

Clinical corpora are often cut from the same collection (MEDDOCAN and PharmaCoNER are both clinical
cases of SPACCC), so a user's extra notes can hold a test document, whole or edited. A note is a
near duplicate when at least ``threshold`` of its word 5-grams (lower-cased) occur in one excluded
document, or the other way round: an edited copy, a copy with a header added, or an excerpt; and at
least ``MIN_SHARED`` 5-grams are shared, so that one common phrase never matches a short document.
A text of fewer than 5 words counts as a duplicate only when equal (ignoring case and punctuation).
Shingles are hashed with Python's ``hash``: compared within one process, never stored.
"""
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Set

SHINGLE = 5  # words per shingle
MIN_SHARED = 3  # 5-grams a near duplicate shares at least
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = SHINGLE) -> Set[int]:
    """Hashes of the text's lower-cased word n-grams (none if it has fewer words)."""
    words = _WORD.findall(text.lower())
    return {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}


def normalised(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass
class Filtered:
    kept: List[str]
    exact: int  # notes equal to an excluded document (ignoring case, spacing and punctuation)
    near: int  # notes sharing >= threshold of their (or its) 5-grams with one excluded document

    def summary(self) -> str:
        return (f"{len(self.kept):,} notes kept; removed {self.exact:,} exact and {self.near:,} near duplicates "
                "of the excluded (test) documents")


def drop_near_duplicates(notes: Iterable[str], excluded: Sequence[str], threshold: float = 0.5) -> Filtered:
    """``notes`` without those that are exact or near duplicates of any of ``excluded``."""
    exact_texts = {n for n in map(normalised, excluded) if n}
    index: Dict[int, List[int]] = defaultdict(list)
    sizes: List[int] = []
    for k, text in enumerate(excluded):
        grams = shingles(text)
        sizes.append(len(grams))
        for g in grams:
            index[g].append(k)
    kept, exact, near = [], 0, 0
    for note in notes:
        text = normalised(note)
        if text and text in exact_texts:
            exact += 1
            continue
        grams = shingles(note)
        shared: Counter = Counter(k for g in grams for k in index.get(g, ()))
        if any(n >= max(MIN_SHARED, threshold * min(len(grams), sizes[k])) for k, n in shared.items()):
            near += 1
            continue
        kept.append(note)
    return Filtered(kept, exact, near)

