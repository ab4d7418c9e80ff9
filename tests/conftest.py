import os

# Tests never reach the Hugging Face hub: every encoder is built locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import spacy  # noqa: E402
import torch  # noqa: E402

from pipelines import blank_nlp, gold_examples, make_nlp, tiny_encoder, train_until_perfect  # noqa: E402

# The test encoders are tiny: one thread is as fast and leaves a core to other work.
torch.set_num_threads(1)

FIXTURES = Path(__file__).parent / "fixtures"
MEDDOCAN = FIXTURES / "corpora" / "meddocan" / "train"


@pytest.fixture(scope="session")
def meddocan_dir() -> Path:
    return MEDDOCAN


@pytest.fixture(scope="session")
def examples(meddocan_dir):
    return gold_examples(blank_nlp(), meddocan_dir)


@pytest.fixture(scope="session")
def encoders(examples, tmp_path_factory):
    texts = [eg.reference.text for eg in examples]
    root = tmp_path_factory.mktemp("encoders")
    return {arch: tiny_encoder(arch, texts, root / arch) for arch in ("xlm-roberta", "bert", "longformer")}


@pytest.fixture(scope="session")
def trained_dir(encoders, examples, tmp_path_factory):
    """An XLM-R-style pipeline trained to F1 1.0 on the fixtures and saved to disk."""
    nlp = make_nlp(encoders["xlm-roberta"])
    epochs, f1 = train_until_perfect(nlp, examples)
    assert f1 == 1.0, f"xlm-roberta: strict char F1 {f1} after {epochs} epochs"
    path = tmp_path_factory.mktemp("pipelines") / "xlmr"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="session")
def trained(trained_dir):
    return spacy.load(trained_dir)
