"""One file replaced atomically: a temp file beside it, flushed to disk, renamed over it.

A process killed at any instant leaves the old file or the new one, never a torn one, and no temp
file once the writer returns or raises. Used wherever a file must survive a kill: people's
decisions, the fetch cache, the fitted clusterer. (Whole output folders: :mod:`.atomic_dir`.)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8, newlines as given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
