"""Soft targets for distilling an ensemble into one model: the members' CRF marginals, averaged.

Every training document gets, in ``doc.user_data[TEACHER_KEY]``, the mean over the ensemble's members
of each tagged subword's posterior tag distribution (forward-backward over the whole document, the
windows and tags the members predict with), stored in float16 with the tag names. A ``clinx_ner``
whose head has ``teacher_weight`` > 0 then trains on gold tags and these marginals together
(``model/layers/heads.py``): one model, trained on all the documents, learning what the five agree
on and how sure they are.
"""
from pathlib import Path
from typing import Callable, Iterable, List, Sequence, Tuple

import numpy
import torch
from spacy.tokens import DocBin
from tqdm import tqdm

from ..atomic import written_aside
from ..components.clinx_ensemble import ClinxEnsemble
from ..components.clinx_ner import ClinxNER, find_clinx_component
from ..model.architecture import get_tagger
from ..model.layers.heads import TEACHER_KEY, decode_batches, pad_emissions

DOCS_PER_PASS = 16

#: texts -> the subword documents and windows the teachers predict on
Inputs = Callable[[Sequence[str]], Tuple[list, list]]


def load_teachers(path: Path) -> Tuple[List[ClinxNER], Inputs]:
    """The members of a saved ensemble (or the one clinx_ner of a pipeline), and what makes the
    subwords and windows they predict on (an ensemble's own: token features from its members' tokens)."""
    import spacy

    nlp = spacy.load(path)
    ensembles = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, ClinxEnsemble)]
    if ensembles:
        return ensembles[0].members, lambda texts: ensembles[0].member_inputs([nlp.make_doc(t) for t in texts])
    ner = find_clinx_component(nlp)

    def inputs(texts: Sequence[str]):
        subword_docs = ner.subwords(list(texts), [nlp.make_doc(t) for t in texts])
        return subword_docs, ner.model.windows(subword_docs)

    return [ner], inputs


def mean_marginals(members: Sequence[ClinxNER], inputs: Inputs, texts: Sequence[str]) -> List[numpy.ndarray]:
    """Per text, (n_tagged, K) float32: the members' mean posterior tag distribution of each tagged position."""
    subword_docs, windows = inputs(texts)
    total = [numpy.zeros((len(d.tagged), len(get_tagger(members[0].model).tag_names)), dtype=numpy.float64)
             for d in subword_docs]
    for member in members:
        emissions = member.emissions(subword_docs, windows)
        emissions = [e if d.units is None else e[d.units] for d, e in zip(subword_docs, emissions)]
        crf = get_tagger(member.model).crf
        for chunk in decode_batches([len(e) for e in emissions], DOCS_PER_PASS, 2**16):
            padded, mask = pad_emissions([emissions[i] for i in chunk])
            device = crf.transitions.device
            with torch.no_grad():
                probs = crf.marginals(torch.from_numpy(padded).to(device), torch.from_numpy(mask).to(device)).cpu().numpy()
            for row, i in enumerate(chunk):
                total[i] += probs[row, : len(emissions[i])]
    return [(t / len(members)).astype(numpy.float32) for t in total]


def teach(teachers: Path, inputs: Iterable[Path], output: Path, progress: bool = True, gpu_id: int = -1) -> int:
    """Write ``output`` (a DocBin): the documents of ``inputs`` with their teacher marginals. Returns
    how many documents were written; nothing is left at ``output`` if it fails."""
    if gpu_id >= 0:
        from thinc.api import require_gpu

        require_gpu(gpu_id)
    members, member_inputs = load_teachers(teachers)
    if any(m.model.head.name != "crf" for m in members):
        raise ValueError(f"{teachers}: distilling needs teachers with a CRF head")
    tag_names = list(get_tagger(members[0].model).tag_names)
    vocab = members[0].vocab
    inputs = list(inputs)
    docs = [doc for path in inputs for doc in DocBin().from_disk(path).get_docs(vocab)]
    if not docs:
        raise ValueError(f"no documents to teach in {', '.join(str(p) for p in inputs)}")
    out = DocBin(store_user_data=True)
    bar = tqdm(total=len(docs), desc="teacher marginals", unit="doc", disable=not progress)
    for start in range(0, len(docs), DOCS_PER_PASS):
        batch = docs[start : start + DOCS_PER_PASS]
        for doc, marginals in zip(batch, mean_marginals(members, member_inputs, [d.text for d in batch])):
            doc.user_data[TEACHER_KEY] = {"tags": tag_names, "marginals": marginals.astype(numpy.float16)}
            out.add(doc)
        bar.update(len(batch))
    bar.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    with written_aside(output) as partial:
        out.to_disk(partial)
    return len(docs)
