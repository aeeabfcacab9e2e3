"""Memory handed back to the system between the build's stages and runs of rows.

A low helper: Python's own small objects go back when their arenas empty, but the arrays and tables a finished
stage (or run of rows) freed stay in the C heap, out of reach of the next stage's small objects and of numpy's
large arrays, which map their own pages. glibc's `malloc_trim` hands the heap's free pages back.

glibc also gives each thread that allocates a heap of its own: the thread that receives the file readers'
results, say, leaves their freed pages scattered through a second heap. A build keeps one heap (`one_heap`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any


def give_back() -> None:
    """Hand the C heap's free pages back to the system (nothing where there is no glibc)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def one_heap() -> None:
    """Let every thread allocate from the one C heap, whose freed pages the next stage reuses (nothing where there is
    no glibc). At 2,000 people a second heap left 40 MB stranded in some runs and not others."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, 1)


_M_ARENA_MAX = -8  # glibc's mallopt parameter: the most heaps (arenas) threads may use


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None  # not a C library this can open: nothing to hand back this way


_LIBC = _glibc()
