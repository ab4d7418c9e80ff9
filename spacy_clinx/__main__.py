"""``python -m spacy_clinx COMMAND``: the commands are in :mod:`spacy_clinx.cli`."""
from .cli import app, main  # noqa: F401  (app: the entry point of clinx scripts installed before main was)

if __name__ == "__main__":
    main()
