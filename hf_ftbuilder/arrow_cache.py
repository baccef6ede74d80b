"""Keep a stage's output as an Arrow file in ``cache_dir`` so later ``Dataset.map`` steps cache.

``datasets`` caches a ``map`` only for datasets backed by files, writing its results beside
them. :func:`persist` writes the collected rows once, under a name derived from their content,
and memory-maps them back: a rebuild whose inputs did not change finds the same file, so every
``map`` after it with the same function and config is served from the cache. The name also
carries a fingerprint of the package's code, so a changed hf_ftbuilder recomputes everything.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import xxhash
from datasets import Dataset

from .memory import release_mapped_pages

__all__ = ["add_columns", "detach", "persist"]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of this package's source files.

    ``datasets`` fingerprints a map function by its own code only, not by the functions it calls
    in other modules; keying the persisted rows by the package's code as well means that an
    upgraded hf_ftbuilder never reuses results computed by an older one.
    """
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def persist(ds: Dataset, folder: Path, name: str) -> Dataset:
    """Write ``ds`` to ``folder/<name>-<content hash>.arrow`` (unless there) and return it memory-mapped.

    Args:
        ds: an in-memory dataset.
        folder: where cached datasets live (``<cache_dir>/datasets``).
        name: a prefix naming the stage (``collect``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    schema = ds.features.arrow_schema
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".arrow")
    os.close(fd)
    try:
        digest = hashlib.sha256()
        # Batch by batch (through any indices mapping): a whole-table copy would be the corpus again in memory.
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for batch in ds.with_format("arrow").iter(batch_size=10_000):
                writer.write_table(batch.replace_schema_metadata(schema.metadata), max_chunksize=10_000)
                release_mapped_pages()  # the pages of the source files read for this batch
        with open(tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        path = folder / f"{name}-{code_fingerprint()[:8]}-{digest.hexdigest()[:20]}.arrow"
        if path.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Dataset.from_file(str(path))


def add_columns(ds: Dataset, columns: list[tuple[str, list, Any]]) -> Dataset:
    """Add whole columns, fingerprinted by a C pickle hash of the values.

    ``datasets`` would hash a Python list with dill, which takes seconds at 100k rows.
    """
    out = ds
    for name, values, feature in columns:
        if name in out.column_names:
            out = out.remove_columns(name)
        digest = xxhash.xxh3_128_hexdigest(pickle.dumps((out._fingerprint, name, values), protocol=5))
        out = out.add_column(name, values, feature=feature, new_fingerprint=digest)
    return out


def detach(ds: Dataset | None) -> Dataset | None:
    """The rows of a selection copied into a table of their own.

    A selection (``select``, ``filter``) keeps the whole table it was cut from memory-mapped, and
    every page of it that a stage read stays in the process's resident memory for as long as the
    selection lives. Rows kept for later (dropped rows, rows for review) are detached so that the
    stage's big table can be unmapped once the next stage has read it.
    """
    if ds is None or ds._indices is None:
        return ds
    return ds.flatten_indices()
