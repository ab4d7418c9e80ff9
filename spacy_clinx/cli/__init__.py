"""The command line, ``python -m spacy_clinx COMMAND`` (installed as ``clinx``), laid out as spaCy's
``spacy/cli/``: each module registers one command on ``app``, a thin wrapper around the library
function that does the work. Imported in the order ``--help`` lists them."""
import signal

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
    exit_on_sigterm()
    app()


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a job scheduler's stop) unwind the command as Ctrl-C does: the training
    processes it started are stopped with it, as ``subprocess.run`` and ``run_logged`` do on any
    exception, instead of training on unseen in the same folders (by default Python dies at once)."""
    signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)
