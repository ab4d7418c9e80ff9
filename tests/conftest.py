import os

# Tests never reach the Hugging Face hub: every encoder is built locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

# The test encoders are tiny: one thread is as fast and leaves a core to other work.
torch.set_num_threads(1)

FIXTURES = Path(__file__).parent / "fixtures"
MEDDOCAN = FIXTURES / "meddocan"


@pytest.fixture(scope="session")
def meddocan_dir() -> Path:
    return MEDDOCAN
