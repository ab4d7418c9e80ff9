"""What the commands share: the typer app they register on, the one-line error and reading texts."""
from pathlib import Path
from typing import List, NoReturn

import typer

app = typer.Typer(help="spacy-clinx: CLIN-X clinical concept extraction for spaCy", no_args_is_help=True)

# the workflow profile of the commands that take one (cwd: the project folder)
DEFAULT_PROFILE = Path("configs/profiles/cpu.cfg")


@app.callback()
def commands() -> None:
    """Commands of spacy-clinx."""


def fail(message: str, code: int = 2) -> NoReturn:
    """A user error: one red line on stderr and exit status ``code``, no traceback."""
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)


def read_texts(sources: List[Path]) -> List[str]:
    """Texts of DocBin files (a converted corpus) and of the .txt files under folders, in path order
    (so dev/ before train/, as the same folders' .txt files sorted)."""
    from ..corpora.brat import read_text
    from ..corpora.docs import docbin_texts

    texts = [t for s in sorted(sources) if s.suffix == ".spacy" and s.is_file() for t in docbin_texts(s)]
    files = sorted(f for s in sources if s.is_dir() for f in s.rglob("*.txt"))
    texts += [read_text(f) for f in files]
    if not texts:
        fail(f"No texts in {', '.join(map(str, sources))} (DocBin files or folders of .txt files)")
    return texts


def corpus_texts(path: Path) -> List[str]:
    """Texts of a DocBin or of a folder of .txt files."""
    if path.is_dir():
        return read_texts([path])
    if not path.exists():
        fail(f"{path}: no such DocBin or folder")
    from ..corpora.docs import docbin_texts

    return docbin_texts(path)
