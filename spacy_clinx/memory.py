"""Give the heap pages torch has freed back to the operating system.

glibc raises its mmap threshold after large frees, so later encoder buffers come from the heap, and
freed heap pages stay in the process. Over one long document this made peak RSS grow with the
document (2.6 GB for 200k words) although the live data did not (``docs/speed.md``).
``malloc_trim(0)`` returns those pages. Where the C library has no ``malloc_trim`` (macOS, musl,
Windows) nothing is done.
"""
import ctypes
import ctypes.util
from functools import lru_cache
from typing import Callable, Optional


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
