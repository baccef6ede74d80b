"""The build's memory: each stage's peak resident set, and freed memory handed back to the system.

A stage's peak is exact when the stage sets the process's high-water mark (``ru_maxrss`` grew
during it); otherwise it is the highest RSS a sampling thread saw (every 50 ms, from
``/proc/self/statm``). Nothing process-wide is reset, so a caller's own ``ru_maxrss`` stays true.
Memory of child processes (``Dataset.map`` workers, Ray) is not included.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import resource
import sys
import threading
from types import TracebackType
from typing import Any

__all__ = ["StagePeak", "peak_rss_mb", "release", "release_mapped_pages"]

_SAMPLE_SECONDS = 0.05
_STATM = "/proc/self/statm"


def peak_rss_mb() -> float:
    """The process's peak RSS so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)  # bytes on macOS, KB elsewhere


def _rss_mb() -> float | None:
    try:
        with open(_STATM, "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class StagePeak:
    """Context manager: ``.mb`` is the peak RSS (MB) of this process while the block ran."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._done = threading.Event()
        self._sampled = 0.0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._done.wait(_SAMPLE_SECONDS):
            rss = _rss_mb()
            if rss is None:
                return
            self._sampled = max(self._sampled, rss)

    def __enter__(self) -> StagePeak:
        self._before = peak_rss_mb()
        self._sampled = _rss_mb() or 0.0
        self._thread = threading.Thread(target=self._sample, name="stage-peak", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        assert self._thread is not None
        self._thread.join()
        after = peak_rss_mb()
        self._sampled = max(self._sampled, _rss_mb() or 0.0)
        # A new high-water mark was set in this stage: that is its peak, to the page. Otherwise the
        # samples (or, with no /proc, the process's peak so far: an upper bound).
        self.mb = after if after > self._before or not self._sampled else round(self._sampled, 1)


@functools.cache
def _libc_function(name: str) -> Any:
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library, use_errno=True), name) if library else None
    except (OSError, AttributeError):  # not on this libc (malloc_trim is glibc's)
        return None


_MADV_DONTNEED = 4  # Linux


def release_mapped_pages() -> None:
    """Unmap from this process the pages it has read of memory-mapped Arrow files.

    ``datasets`` reads its cache files through read-only memory maps; every page a pass over the
    texts touched stays counted in this process's RSS until the file is unmapped, so a build
    that reads a 2 GB table once would look 2 GB larger to ``top`` and to a container's limit for
    the rest of the stage. ``madvise(MADV_DONTNEED)`` on those read-only mappings drops the pages
    from this process only: they stay in the kernel's page cache, and the next read maps them
    again (from memory, or from disk if the kernel needed the room). Linux only; elsewhere nothing.
    """
    madvise = _libc_function("madvise")
    if madvise is None or not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except OSError:
        return
    for line in lines:
        fields = line.split(maxsplit=5)
        # Only read-only mappings of .arrow files: no page of them can hold a change of ours.
        if len(fields) == 6 and fields[5].rstrip("\n").endswith(".arrow") and fields[1].startswith("r-"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)


def release() -> None:
    """Hand memory that the stage freed back to the system.

    glibc's free lists (a model's tensors, sklearn's matrices and millions of short strings leave
    most of the heap free but kept), Arrow's memory pool and the pages read of memory-mapped Arrow
    files. Costs milliseconds; called between stages and after the report's model steps. (No
    gc.collect(): the big objects are freed by reference counting, and a full collection with
    torch and datasets loaded takes 0.3 s.)
    """
    import pyarrow as pa

    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
    pa.default_memory_pool().release_unused()
    release_mapped_pages()
