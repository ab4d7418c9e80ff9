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
    without an error, and is removed when it raises (``target`` is then left as it was). A folder is
    swapped by renames (the old one set aside, the new one renamed in, the old one deleted), so a
    kill leaves either folder whole, or none: never a half-deleted one."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    remove(partial)
    try:
        yield partial
    except BaseException:
        remove(partial)
        raise
    if partial.is_dir() and target.exists():
        old = target.with_name(target.name + ".old")
        remove(old)
        os.replace(target, old)
        os.replace(partial, target)
        remove(old)
    else:
        os.replace(partial, target)
