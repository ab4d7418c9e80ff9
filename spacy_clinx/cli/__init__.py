"""The command line, ``python -m spacy_clinx COMMAND`` (installed as ``clinx``), laid out as spaCy's
``spacy/cli/``: each module registers one command on ``app``, a thin wrapper around the library
function that does the work. Imported in the order ``--help`` lists them."""
from ._util import app
from . import convert  # noqa: F401
from . import train  # noqa: F401
from . import fetch_corpus  # noqa: F401
from . import encoder  # noqa: F401
from . import splits  # noqa: F401
from . import train_splits  # noqa: F401
from . import ensemble  # noqa: F401
from . import teach  # noqa: F401
from . import distill  # noqa: F401
from . import data_report  # noqa: F401
from . import evaluate_models  # noqa: F401
from . import package  # noqa: F401
from . import annotate  # noqa: F401
from . import transfer  # noqa: F401
from . import subset  # noqa: F401
from . import rank_sources  # noqa: F401

__all__ = ["app", "main"]


def main() -> None:
    """Run the command named on the command line."""
    app()
