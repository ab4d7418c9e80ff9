"""Which source model to transfer from: model similarity (Lange et al. 2021b, "To share or not
to share"), with two text-similarity baselines: vocabulary overlap (Jaccard of the word types) and
vocabulary coverage (the share of the target's running words the source has seen).

Both the target model and each source model embed the same target training texts. Their
features are pooled per whitespace word (mean of the word's subwords), so models with different
tokenizers compare word for word. A ridge-regression map from source to target features is fit
on the first half of the texts and scored on the second half by R^2, the share of the target
features' variance the mapped source features explain (1.0: the source encodes what the target
encodes, up to a linear map). Everything is computed in float64 in a fixed order, so the ranking
is deterministic.

A ranking of sources alone cannot say "do not transfer". So the encoder the target model started
from can join the ranking as the no-transfer reference (``no_transfer``): a source that fine-tuning
on its own task moved closer to the target model than that starting point is predicted to help, and
when the reference ranks first no source is.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import torch

from ..model.architecture import max_input_length
from ..model.encoder import load_encoder

WORD = re.compile(r"\S+")


def load_any_encoder(model: str):
    """(encoder, tokenizer) of a trained clinx pipeline folder or of a Hugging Face encoder."""
    if (Path(model) / "config.cfg").exists():
        import spacy

        from .encoder_export import find_tagger

        tagger = find_tagger(spacy.load(model))
        return tagger.encoder, tagger.tokenizer
    return load_encoder(model)


def word_features(encoder, tokenizer, texts: Sequence[str], max_words: int = 20_000,
                  batch_size: int = 16) -> numpy.ndarray:
    """One vector per whitespace word of ``texts`` (in order, at most ``max_words``): the mean of
    the last hidden states of the subwords that end inside the word."""
    limit = min(max_input_length(encoder.config) or 512, 512)
    encoder.eval()
    rows: List[numpy.ndarray] = []
    total = 0
    for text in texts:
        words = [m.span() for m in WORD.finditer(text)][: max_words - total]
        if not words:
            continue
        encoded = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=limit,
                            stride=limit // 4, return_overflowing_tokens=True, padding=True,
                            return_tensors="pt")
        offsets = encoded.pop("offset_mapping")
        encoded.pop("overflow_to_sample_mapping", None)
        hidden = []
        with torch.inference_mode():
            for start in range(0, len(encoded["input_ids"]), batch_size):
                batch = {k: v[start : start + batch_size] for k, v in encoded.items()}
                hidden.append(encoder(**batch).last_hidden_state.double())
        hidden_t = torch.cat(hidden).numpy()
        sums = numpy.zeros((len(words), hidden_t.shape[-1]))
        counts = numpy.zeros(len(words))
        seen = set()
        starts = numpy.array([s for s, _ in words])
        for w_i, (offs, mask) in enumerate(zip(offsets.tolist(), encoded["attention_mask"].tolist())):
            for t_i, ((a, b), m) in enumerate(zip(offs, mask)):
                if not m or a == b or (a, b) in seen:  # special/padding tokens; a subword seen in an earlier window
                    continue
                seen.add((a, b))
                # by its last character: SentencePiece offsets may start at the space before the word
                word = int(numpy.searchsorted(starts, b - 1, side="right")) - 1
                if word >= 0 and b - 1 < words[word][1]:
                    sums[word] += hidden_t[w_i, t_i]
                    counts[word] += 1
        if not counts.all():
            missing = [text[s:e] for (s, e), c in zip(words, counts) if not c][:3]
            raise ValueError(f"{len(words) - int(counts.astype(bool).sum())} words got no subword from the "
                             f"tokenizer, e.g. {missing}")
        rows.append(sums / counts[:, None])
        total += len(words)
        if total >= max_words:
            break
    if not rows:
        raise ValueError("no words in the target texts")
    return numpy.concatenate(rows)


def mapping_r2(source: numpy.ndarray, target: numpy.ndarray, ridge: float = 1e-3) -> float:
    """R^2 on the second half of the words of a ridge map fit on the first half (source -> target)."""
    if source.shape[0] != target.shape[0]:
        raise ValueError(f"feature rows differ: {source.shape[0]} source words, {target.shape[0]} target words")
    half = source.shape[0] // 2
    if half < 2:
        raise ValueError("too few words to fit and test the mapping")
    s_mean, t_mean = source[:half].mean(0), target[:half].mean(0)
    s_fit, t_fit = source[:half] - s_mean, target[:half] - t_mean
    s_test, t_test = source[half:] - s_mean, target[half:] - t_mean
    gram = s_fit.T @ s_fit
    weights = numpy.linalg.solve(gram + ridge * numpy.trace(gram) / len(gram) * numpy.eye(len(gram)),
                                 s_fit.T @ t_fit)
    residual = ((s_test @ weights - t_test) ** 2).sum()
    spread = ((t_test - t_test.mean(0)) ** 2).sum()
    return float(1.0 - residual / spread)


def lowercased_words(texts: Sequence[str]) -> List[str]:
    """The whitespace words of ``texts``, lowercased, in order: what the text baselines compare."""
    return [w.lower() for t in texts for w in WORD.findall(t)]


def vocabulary_overlap(target_texts: Sequence[str], source_texts: Sequence[str]) -> float:
    """Jaccard overlap of the lowercased word types of two corpora."""
    target, source = set(lowercased_words(target_texts)), set(lowercased_words(source_texts))
    return len(target & source) / len(target | source) if target | source else 0.0


def vocabulary_coverage(target_texts: Sequence[str], source_texts: Sequence[str]) -> float:
    """Share of the target's running words (lowercased) that occur in the source texts. Unlike
    Jaccard it does not penalise a source for knowing more words than the small target has."""
    source = set(lowercased_words(source_texts))
    target = lowercased_words(target_texts)
    return sum(w in source for w in target) / len(target) if target else 0.0


NO_TRANSFER = "none"


def rank_sources(target_model: str, target_texts: Sequence[str], sources: Dict[str, str],
                 source_texts: Optional[Dict[str, Sequence[str]]] = None, max_words: int = 20_000,
                 echo=None, no_transfer: Optional[str] = None) -> List[Dict]:
    """Sources best first by model similarity; each row also has the vocabulary overlap and
    coverage when the source's training texts are given. With ``no_transfer`` (the encoder the
    target model was trained from), that encoder is ranked too, as the row ``none`` with
    ``"no_transfer": True``."""
    if NO_TRANSFER in sources:
        raise ValueError(f"'{NO_TRANSFER}' names the no-transfer reference; give that source another name")
    encoder, tokenizer = load_any_encoder(target_model)
    target = word_features(encoder, tokenizer, target_texts, max_words)
    candidates = {**sources, **({NO_TRANSFER: no_transfer} if no_transfer else {})}
    rows = []
    for name, model in candidates.items():
        if echo:
            echo(f"{name}: features of {target.shape[0]} words from {model}")
        encoder, tokenizer = load_any_encoder(model)
        row = {"source": name, "model": str(model),
               "model_similarity": mapping_r2(word_features(encoder, tokenizer, target_texts, max_words), target)}
        if name == NO_TRANSFER:
            row["no_transfer"] = True
        elif source_texts and name in source_texts:
            row["vocabulary_overlap"] = vocabulary_overlap(target_texts, source_texts[name])
            row["vocabulary_coverage"] = vocabulary_coverage(target_texts, source_texts[name])
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["model_similarity"], r["source"]))


def advice(rows: List[Dict]) -> str:
    """What a ranking advises, in words."""
    first = rows[0]
    if first.get("no_transfer"):
        return (f"no transfer: no source is closer to the target model than the encoder it started from "
                f"({first['model']})")
    reference = next((r for r in rows if r.get("no_transfer")), None)
    return f"transfer from {first['source']}" + (
        f" (closer to the target model than the no-transfer reference: R^2 {first['model_similarity']:.4f} "
        f"against {reference['model_similarity']:.4f})" if reference else "")


def ranking_table(rows: List[Dict]) -> str:
    lines = ["| rank | source | model similarity (R^2) | vocabulary overlap | vocabulary coverage |",
             "|---:|---|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        texts = [row.get(key) for key in ("vocabulary_overlap", "vocabulary_coverage")]
        name = f"{row['source']} (no-transfer reference)" if row.get("no_transfer") else row["source"]
        lines.append(f"| {i} | {name} | {row['model_similarity']:.4f} | "
                     + " | ".join("" if v is None else f"{v:.4f}" for v in texts) + " |")
    return "\n".join(lines)


def split_name(spec: str) -> Tuple[str, str]:
    """``NAME=PATH`` or ``PATH`` (named after the folder)."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name, path
    return Path(spec).name or spec, spec
