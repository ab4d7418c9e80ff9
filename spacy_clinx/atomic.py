"""Write a file or folder aside and rename it into place, so that a kill mid-write never leaves a
half-written checkpoint, corpus or annotation where a rerun would take it for a finished one."""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def written_aside(target: Path) -> Iterator[Path]:
    """``TARGET.partial``, to be written in the block; it replaces ``target`` when the block ends
    without an error, and is removed when it raises (``target`` is then left as it was)."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    remove(partial)
    try:
        yield partial
    except BaseException:
        remove(partial)
        raise
    if partial.is_dir():
        remove(target)
    os.replace(partial, target)
