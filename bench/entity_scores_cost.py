"""What entity scores cost: nlp.pipe on 100 MEDDOCAN test notes with and without ``spans_key``
(CRF marginals by forward-backward), alternated, twice.

    python bench/entity_scores_cost.py MODEL [TEXTS_DIR]
"""
import time, sys
from pathlib import Path
import spacy, torch
from spacy_clinx.corpora.brat import read_text
torch.set_num_threads(2)
folder = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/corpora/meddocan/test")
texts = [read_text(f) for f in sorted(folder.glob("*.txt"))][:100]
nlp = spacy.load(sys.argv[1])
ner = nlp.get_pipe("clinx_ner")
list(nlp.pipe(texts[:10]))
for r in range(2):
    for key in (None, "scores"):
        ner.spans_key = key
        t = time.perf_counter(); list(nlp.pipe(texts, batch_size=32)); print(f"spans_key={key}: {time.perf_counter() - t:.1f} s", flush=True)
