"""Get a corpus into ``assets/NAME/{train,dev,test}``: from a local copy, or from its
official public source, checked against a digest of its contents.

The digest is a SHA-256 over every file's split, name and content SHA-256, in sorted
order, so it verifies the corpus itself whatever archive or folder it came from.
Digests here were computed from the copies named in each corpus's PROVENANCE.txt.
"""
import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from ..atomic import written_aside

SPLITS = ("train", "dev", "test")
DOCUMENT_FILES = (".txt", ".pubtator", ".jsonl")  # brat texts, PubTator, JSON lines

# A split of a local copy: a folder, or (folder, remainders, n): the documents of the folder,
# sorted by name, whose index modulo n is one of the remainders (a documented, fixed hold-out).
LocalSplit = Union[str, Tuple[str, Tuple[int, ...], int]]


@dataclass(frozen=True)
class CorpusSource:
    name: str
    lang: str
    url: Optional[str]  # a .tar.gz archive of the official release; None: local copies only
    archive_dirs: Dict[str, str]  # split -> folder inside the archive (after its top folder)
    local_dirs: Dict[str, LocalSplit]  # split -> its documents in a local copy
    digest: str
    files: int


# Digests of the derived splits of the copies named in PROVENANCE.txt.
DIGESTS = {"ner": "ad957d18d5d784b66b56f0391b0ee56989dc2879729d33ee0ee4aaef7717ee93",
           "class": "ea982499c2d7ea1fec48be01abbeca9db7959b8fa406affdedf7b3195546e477"}

SOURCES = {
    "meddocan": CorpusSource(
        "meddocan", "es",
        "https://github.com/PlanTL-GOB-ES/SPACCC_MEDDOCAN/archive/783a6df385c975b328c99bcffb54196a9ba4078a.tar.gz",
        {"train": "corpus/train/brat", "dev": "corpus/dev/brat", "test": "corpus/test/brat"},
        {"train": "train", "dev": "dev", "test": "test"},
        digest="8f0e7bd9551b21ecf6361ff1a0c0f34bfb1dd0ed4c4af306345a529707777cfc", files=2000,
    ),
    "ncbi_disease": CorpusSource(
        "ncbi_disease", "en",
        "https://github.com/spyysalo/ncbi-disease/archive/5a266c6fc76fb2b5184cfa397ff0a5ecdb133aec.tar.gz",
        {"train": "standoff/train", "dev": "standoff/devel", "test": "standoff/test"},
        {"train": "train", "dev": "devel", "test": "test"},
        digest="741f1bee12f56a4b5f87eb1981ae24411f2b4df7601e3866dc95d2cc0fa4df88", files=1586,
    ),
    # No document-level test gold is public for these: the test set is held out of the training
    # data (docs/transfer.md). MEDDOPROF's two tracks annotate the same texts and share the split.
    "pharmaconer": CorpusSource(
        "pharmaconer", "es", None, {},
        {"train": "train", "dev": ("dev", (0,), 2), "test": ("dev", (1,), 2)},
        digest="1b404daf520b391ec8e4af3e3d996bb1eb2b63c7b14e1d51f176bfba46dab397", files=1500,
    ),
    **{
        f"meddoprof_{track}": CorpusSource(
            f"meddoprof_{track}", "es", None, {},
            {"train": (f"train/{track}", (0, 1, 2), 5), "dev": (f"train/{track}", (3,), 5),
             "test": (f"train/{track}", (4,), 5)},
            digest=DIGESTS[track], files=3000,
        )
        for track in ("ner", "class")
    },
}

LOCAL_FOLDER = {"meddoprof_ner": "meddoprof", "meddoprof_class": "meddoprof"}


class CorpusUnavailable(RuntimeError):
    """Neither a local copy nor the official source could be used."""


def corpus_digest(root: Path) -> "tuple[str, int]":
    """Digest of the .txt/.ann files under ``root/{train,dev,test}`` and their number."""
    lines = []
    for split in SPLITS:
        for path in sorted((root / split).rglob("*")):
            if path.is_file() and path.suffix in (".txt", ".ann"):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
                lines.append(f"{split}/{path.relative_to(root / split).as_posix()}\t{content}\n")
    return hashlib.sha256("".join(lines).encode("utf8")).hexdigest(), len(lines)


def fetch_corpus(name: str, output: Path, local: Optional[Path] = None,
                 url: Optional[str] = None) -> "tuple[str, Optional[bool]]":
    """Copy or download corpus ``name`` to ``output/{train,dev,test}``.

    Returns where it came from and whether it is the official release (None for a user's corpus,
    which has none). A download that is not fails; a local copy that is not (a corrected or partial
    copy) is used as it is.
    """
    output = Path(output)
    if name not in SOURCES:
        return fetch_user_corpus(name, output, local)
    source = SOURCES[name]
    folder = Path(local) / LOCAL_FOLDER.get(name, name) if local is not None else None
    with written_aside(output) as tmp:
        if folder is not None and folder.is_dir():
            origin = str(folder)
            for split, spec in source.local_dirs.items():
                copy_local_split(folder, spec, tmp / split)
        elif source.url is None:
            where = f"{folder} does not exist. " if folder is not None else ""
            raise CorpusUnavailable(
                f"Corpus {name} is read from a local copy only (no public archive with its test gold): {where}Set "
                f"the corpora directory (project var corpora_dir or CLINX_CORPORA) to a folder holding "
                f"{LOCAL_FOLDER.get(name, name)}/.")
        else:
            origin = url or source.url
            try:
                download_archive(origin, source.archive_dirs, tmp)
            except OSError as err:
                where = f"{folder} does not exist, and " if folder is not None else ""
                raise CorpusUnavailable(
                    f"Cannot get corpus {name}: {where}downloading {origin} failed ({err}). Set the corpora "
                    f"directory (project var corpora_dir or the environment variable CLINX_CORPORA) to a folder "
                    f"holding {name}/{{{','.join(str(v) for v in source.local_dirs.values())}}}.") from None
        digest, files = corpus_digest(tmp)
        official = digest == source.digest
        if not official and origin == (url or source.url):
            raise CorpusUnavailable(f"{name} from {origin} does not match the official release: content digest "
                                    f"{digest} ({files} files) instead of {source.digest} ({source.files} files)")
    return origin, official


def fetch_user_corpus(name: str, output: Path, local: Optional[Path]) -> "tuple[str, bool]":
    """A corpus of the user's: ``local/name/{train,test}/``, each a brat folder or a folder of PubTator
    or JSONL files (``corpora/formats.py``), ``dev/`` optional (without it the workflow's splits come
    from train alone). Labels are whatever the annotations use."""
    known = f"the built-in corpora are {sorted(SOURCES)}"
    if local is None:
        raise CorpusUnavailable(f"Corpus {name!r} is not built in ({known}): set the corpora directory (project var "
                                f"corpora_dir or CLINX_CORPORA) to a folder holding {name}/train/ and {name}/test/")
    folder = Path(local) / name
    missing = [split for split in ("train", "test")
               if not any(p.suffix in DOCUMENT_FILES for p in (folder / split).rglob("*"))]
    if missing:
        raise CorpusUnavailable(f"{folder}: no documents in {' or '.join(f'{m}/' for m in missing)}; corpus {name!r} "
                                f"is not built in ({known}), so it needs {name}/train/ and {name}/test/, each a brat "
                                "folder (.txt + .ann) or PubTator or JSONL files; dev/ optional")
    with written_aside(output) as tmp:
        for split in SPLITS:
            if (folder / split).is_dir():
                shutil.copytree(folder / split, tmp / split)
    return str(folder), None


def copy_local_split(root: Path, spec: LocalSplit, output: Path) -> None:
    folder, keep = (spec, None) if isinstance(spec, str) else (spec[0], spec[1:])
    if not (root / folder).is_dir():
        raise CorpusUnavailable(f"{root / folder} is missing from the local copy")
    if keep is None:
        shutil.copytree(root / folder, output)
        return
    remainders, n = keep
    output.mkdir(parents=True)
    for i, txt in enumerate(sorted((root / folder).glob("*.txt"))):
        if i % n in remainders:
            for path in (txt, txt.with_suffix(".ann")):
                if path.exists():
                    shutil.copy2(path, output / path.name)


def download_archive(url: str, dirs: Dict[str, str], output: Path) -> None:
    """Download a .tar.gz and extract ``dirs`` (relative to its single top folder) to ``output/split``."""
    with tempfile.TemporaryDirectory() as workdir:
        archive = Path(workdir) / "corpus.tar.gz"
        with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
        (top,) = [p for p in Path(workdir).iterdir() if p.is_dir()]
        for split, folder in dirs.items():
            if not (top / folder).is_dir():
                raise OSError(f"the archive has no folder {folder}")
            shutil.copytree(top / folder, output / split)
