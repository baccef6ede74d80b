"""Readers for local inputs: each turns one file or folder into an Arrow table.

Readers only read: they name the file and line of anything malformed and leave column
renaming, row ids and provenance to :mod:`hf_ftbuilder.collect`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..errors import SourceError
from .urls import decode_html

__all__ = [
    "CHUNK_ROWS", "file_digest", "iter_csv", "iter_jsonl", "iter_parquet", "read_csv", "read_html_dir", "read_jsonl",
    "read_parquet", "read_text_dir",
]


def file_digest(data: bytes) -> str:
    """sha256 of a file's bytes, the input's part of the recipe fingerprint."""
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _decode(data: bytes, path: Path, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path}:{line}: not valid {encoding} ({exc.reason} at byte {exc.start})") from None
    except LookupError:
        raise SourceError(f"{path}: unknown encoding {encoding!r}") from None


def _columns_to_table(columns: dict[str, list], path: Path) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SourceError(f"{path}: column {name!r} mixes value types ({exc})") from None
    return pa.table(arrays)


#: Rows per chunk a file reader yields: a chunk's Python objects are all a reader holds at once.
CHUNK_ROWS = 10_000


def _open(path: Path) -> Any:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _lines(path: Path, fh: Any, digest: Any, encoding: str) -> Iterator[str]:
    """The decoded lines of a file (with their ends), hashing its bytes on the way."""
    for lineno, raw in enumerate(fh, start=1):
        digest.update(raw)
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}:{lineno}: not valid {encoding} ({exc.reason} at byte {exc.start} of the line)") from None
        except LookupError:
            raise SourceError(f"{path}: unknown encoding {encoding!r}") from None


def iter_jsonl(path: Path, digest: Any, *, rows: int | None = None) -> Iterator[pa.Table]:
    """Read a JSON Lines file a chunk of ``rows`` at a time (blank lines are skipped).

    A chunk has the keys its rows have, in order of first appearance (missing keys as null);
    :func:`hf_ftbuilder.collect.collect` unifies the chunks.

    Raises:
        SourceError: naming the file and line of a line that is not a JSON object.
    """
    rows = rows or CHUNK_ROWS
    columns: dict[str, list] = {}
    n = 0
    with _open(path) as fh:
        for lineno, line in enumerate(_lines(path, fh, digest, "utf-8"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.removesuffix("\n"))
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise SourceError(f"{path}:{lineno}: expected a JSON object, found {type(obj).__name__}")
            for key in obj:
                if key not in columns:
                    columns[key] = [None] * n
            for key, values in columns.items():
                values.append(obj.get(key))
            n += 1
            if n == rows:
                yield _columns_to_table(columns, path)
                columns, n = {key: [] for key in columns}, 0
    if n or not columns:
        yield _columns_to_table(columns, path)


def read_jsonl(path: Path) -> tuple[pa.Table, str]:
    """Read a whole JSON Lines file (small files: examples, annotations); returns the table and sha256."""
    digest = hashlib.sha256()
    tables = list(iter_jsonl(path, digest))
    return pa.concat_tables(tables, promote_options="permissive"), digest.hexdigest()


def iter_csv(path: Path, digest: Any, *, delimiter: str = ",", encoding: str = "utf-8",
             rows: int | None = None) -> Iterator[pa.Table]:
    """Read a CSV file with a header row a chunk of ``rows`` at a time; every value stays a string.

    Raises:
        SourceError: naming the file and line of a row with the wrong number of fields or bad quoting.
    """
    rows = rows or CHUNK_ROWS
    with _open(path) as fh:
        reader = csv.reader(_lines(path, fh, digest, encoding), delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                yield pa.table({})
                return
            if len(set(header)) != len(header):
                dupes = sorted({h for h in header if header.count(h) > 1})
                raise SourceError(f"{path}:1: the header repeats column names {dupes}")
            columns: list[list[str]] = [[] for _ in header]
            emitted = False
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise SourceError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields as in the header, found {len(row)}"
                    )
                for values, value in zip(columns, row):
                    values.append(value)
                if len(columns[0]) == rows:
                    yield pa.table({name: pa.array(values, pa.string()) for name, values in zip(header, columns)})
                    columns, emitted = [[] for _ in header], True
        except csv.Error as exc:
            raise SourceError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if columns[0] or not emitted:
        yield pa.table({name: pa.array(values, pa.string()) for name, values in zip(header, columns)})


def read_csv(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> tuple[pa.Table, str]:
    """Read a whole CSV file (small files: examples, annotations); returns the table and sha256."""
    digest = hashlib.sha256()
    tables = list(iter_csv(path, digest, delimiter=delimiter, encoding=encoding))
    return pa.concat_tables(tables), digest.hexdigest()


def iter_parquet(path: Path, digest: Any, *, rows: int | None = None) -> Iterator[pa.Table]:
    """Read a parquet file a chunk of ``rows`` at a time (the file is hashed first)."""
    with _open(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    try:
        parquet = pq.ParquetFile(path)
        schema_ = parquet.schema_arrow
        empty = True
        for batch in parquet.iter_batches(batch_size=rows or CHUNK_ROWS):
            empty = False
            yield pa.Table.from_batches([batch], schema=schema_)
        if empty:
            yield schema_.empty_table()
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a valid parquet file ({exc})") from None


def read_parquet(path: Path) -> tuple[pa.Table, str]:
    """Read a whole parquet file; returns the table and sha256."""
    digest = hashlib.sha256()
    tables = list(iter_parquet(path, digest))
    return pa.concat_tables(tables), digest.hexdigest()


def _list_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    if not root.is_dir():
        raise SourceError(f"{root}: folder not found")
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_text_dir(root: Path, *, pattern: str, encoding: str) -> tuple[pa.Table, dict[str, str]]:
    """Read a folder of text files, one file a row, in sorted path order.

    Returns:
        A table with ``text`` and ``file`` (path relative to ``root``), and sha256 per file.
    """
    texts, files, digests = [], [], {}
    for path in _list_files(root, [pattern]):
        data = _read_bytes(path)
        rel = path.relative_to(root).as_posix()
        texts.append(_decode(data, path, encoding))
        files.append(rel)
        digests[rel] = file_digest(data)
    table = pa.table({schema.TEXT: pa.array(texts, pa.string()), schema.FILE: pa.array(files, pa.string())})
    return table, digests


def read_html_dir(root: Path, *, patterns: list[str]) -> tuple[pa.Table, dict[str, str]]:
    """Read a folder of saved pages (.html, .htm, .html.gz), one page a row.

    Pages are decoded as a browser would (BOM, ``<meta charset>``, then detection); the extract
    stage turns the ``html`` column into text.
    """
    pages, files, digests = [], [], {}
    for path in _list_files(root, patterns):
        data = _read_bytes(path)
        rel = path.relative_to(root).as_posix()
        if path.name.endswith(".gz"):
            try:
                page = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise SourceError(f"{path}: not a valid gzip file ({exc})") from None
        else:
            page = data
        pages.append(decode_html(page))
        files.append(rel)
        digests[rel] = file_digest(data)
    table = pa.table(
        {
            schema.TEXT: pa.array([None] * len(pages), pa.string()),
            schema.HTML: pa.array(pages, pa.string()),
            schema.FILE: pa.array(files, pa.string()),
        }
    )
    return table, digests
