"""What a piece of the workflow's work was made from, kept beside its output.

A rerun compares the record with what it would do now and redoes the work when they differ. Files
are recorded by size and modification time, so the same path rewritten with other data (a re-cut
split, a retrained ensemble, a rebuilt encoder) is other work. Records are written aside and renamed
into place, and one that cannot be read (a kill mid-write) counts as none.
"""
import json
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..atomic import written_aside


def fingerprint(path: Union[str, Path], pattern: str = "*") -> Dict[str, Any]:
    """Path, sizes and modification times of the file or of the files under the folder ``path``
    (those matching ``pattern``)."""
    path = Path(path)
    files = sorted(f for f in ([path] if path.is_file() else path.rglob(pattern)) if f.is_file())
    return {"path": str(path), "files": [[str(f.relative_to(path.parent)), f.stat().st_size, f.stat().st_mtime_ns]
                                         for f in files]}


def read_record(path: Union[str, Path]) -> Optional[Any]:
    """The record at ``path``; None when there is none or it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf8"))
    except (OSError, ValueError):
        return None


def write_record(path: Union[str, Path], record: Any) -> None:
    with written_aside(Path(path)) as partial:
        partial.write_text(json.dumps(record, indent=2), encoding="utf8")
