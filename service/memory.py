"""Memory handed back to the system once the versions that held it are gone."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, looked up once (find_library runs a program); None elsewhere."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system. An evicted version's tensors are
    freed, but glibc kept their pages: a worker grew by about 55 MB a promote
    (bench/promote_memory.py)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
