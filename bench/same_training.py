"""Fingerprints of a few seeded training updates, to show that a refactor leaves training unchanged.

Four updates (lr 2e-3, dropout 0.1) of a tiny clinx_ner on the MEDDOCAN fixtures, for three settings
(the CRF; token features; the softmax head); prints each setting's losses and a SHA-256 of its torch
state dict. Run it in two trees with the same encoder folder and compare the output:

    PYTHONPATH=OLD_TREE python bench/same_training.py /tmp/eq      # from OLD_TREE, e.g. a git worktree
    PYTHONPATH=. python bench/same_training.py /tmp/eq             # from this tree

The first run builds the tiny encoder in ENCODER_DIR/enc; the second reuses it (tokenizer training
differs between processes, so each tree would otherwise get its own encoder).
"""
import hashlib
import json
import sys
from pathlib import Path

import torch
from spacy.util import fix_random_seed

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from pipelines import blank_nlp, gold_examples, make_nlp, tiny_encoder  # noqa: E402

from importlib.util import find_spec  # noqa: E402

# trees before the v2 architecture (no registered heads) name the head by string
SOFTMAX = {"@misc": "spacy_clinx.softmax_head.v1"} if find_spec("spacy_clinx.model.layers.heads") else "softmax"
SETTINGS = {"crf": {}, "token features": {"token_features": {"@misc": "spacy_clinx.TokenFeatures.v1"}},
            "softmax": {"head": SOFTMAX}}


def main(encoder_dir: str) -> None:
    torch.set_num_threads(1)
    examples = gold_examples(blank_nlp(), Path(__file__).parent.parent / "tests/fixtures/corpora/meddocan/train")
    encoder = Path(encoder_dir) / "enc"
    if not (encoder / "config.json").exists():
        fix_random_seed(0)
        tiny_encoder("xlm-roberta", [eg.reference.text for eg in examples], encoder)
    out = {}
    for name, setting in SETTINGS.items():
        fix_random_seed(1)
        nlp = make_nlp(encoder, dropout=0.1, **setting)
        optimizer = nlp.initialize(lambda: examples)
        optimizer.learn_rate = 2e-3
        losses = [round(nlp.update(examples, sgd=optimizer, drop=0.1)["clinx_ner"], 6) for _ in range(4)]
        state = nlp.get_pipe("clinx_ner").model.layers[0].shims[0]._model.state_dict()
        digest = hashlib.sha256(b"".join(v.detach().numpy().tobytes() for _, v in sorted(state.items()))).hexdigest()
        out[name] = {"losses": losses, "weights_sha256": digest[:16]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
