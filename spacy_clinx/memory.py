"""Give the heap pages torch has freed back to the operating system, when the process has grown.

glibc raises its mmap threshold after large frees, so later encoder buffers come from the heap, and
freed heap pages stay in the process. Over one long document this made peak RSS grow with the
document (2.5 GB for 200k words) although the live data did not (``docs/speed.md``).
``malloc_trim(0)`` returns those pages, but the next batches then fault them in again: trimming
after every 8 batches cost 1.11x the time on ordinary notes. So it is done only when the resident
size has grown by a margin since the last time. Where the C library has no ``malloc_trim`` (macOS,
musl, Windows) or there is no ``/proc``, nothing is done.
"""
import ctypes
import ctypes.util
import os
from functools import lru_cache
from typing import Callable, Optional

_STATM = "/proc/self/statm"


@lru_cache(maxsize=None)
def _malloc_trim() -> Optional[Callable[[int], int]]:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; False where this C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_mb() -> Optional[float]:
    """This process's resident set size, or None without ``/proc``."""
    try:
        with open(_STATM) as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class GrowthRelease:
    """Calls :func:`release_freed_memory` when the resident size is more than ``margin_mb`` above
    what it was after the last release (or at the first call). 0 turns it off."""

    def __init__(self, margin_mb: int):
        self.margin_mb = margin_mb
        self.floor: Optional[float] = None
        self.releases = 0

    def __call__(self) -> bool:
        """Check once (after an encoder batch); True when memory was given back."""
        if not self.margin_mb:
            return False
        rss = resident_mb()
        if rss is None:
            return False
        if self.floor is None or rss < self.floor:
            self.floor = rss
            return False
        if rss - self.floor <= self.margin_mb or not release_freed_memory():
            return False
        self.floor = resident_mb()
        self.releases += 1
        return True
