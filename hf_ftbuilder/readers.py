"""Readers of local files (JSON Lines, CSV, parquet, folders of text): each turns one into Arrow.

Readers only read: they name the file and line of anything malformed and leave column renaming,
row ids and provenance to :mod:`hf_ftbuilder.collect`. They live below the stages because the
label stage reads its example and annotation files with them too.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from .errors import SourceError

__all__ = [
    "CHUNK_ROWS", "file_digest", "file_sha256", "iter_csv", "iter_jsonl", "iter_parquet", "list_files", "read_bytes", "read_csv",
    "read_jsonl", "read_parquet", "read_text_dir",
]


def file_digest(data: bytes) -> str:
    """sha256 of a file's bytes, the input's part of the recipe fingerprint."""
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes:
    """A file's bytes; a missing or unreadable file is a SourceError naming it."""
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


#: Python's csv module refuses fields longer than this unless told otherwise.
_CSV_DEFAULT_FIELD_LIMIT = 131_072


def iter_jsonl(path: Path, digest: Any, *, rows: int | None = None, max_row_chars: int | None = None,
               text_column: str = schema.TEXT) -> Iterator[pa.Table]:
    """Read a JSON Lines file a chunk of ``rows`` at a time (blank lines are skipped).

    A chunk has the keys its rows have, in order of first appearance (missing keys as null);
    :func:`hf_ftbuilder.collect.collect` unifies the chunks. A line longer than ``max_row_chars``
    is not parsed: it stands as a row with ``text_column`` null and :data:`~hf_ftbuilder.schema.TOO_LONG`
    set, so it keeps its row number (and id) and is counted.

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
            if max_row_chars is not None and len(line) > max_row_chars:
                obj = {text_column: None, schema.TOO_LONG: True}
                del line  # a huge line is not kept while the chunk fills
            else:
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


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """csv's field limit (process-wide state) raised to ``limit`` while one file is read."""
    previous = csv.field_size_limit(max(limit, _CSV_DEFAULT_FIELD_LIMIT))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_table(header: list[str], columns: list[list[str | None]], too_long: list[bool]) -> pa.Table:
    table = pa.table({name: pa.array(values, pa.string()) for name, values in zip(header, columns)})
    if any(too_long):
        table = table.append_column(schema.TOO_LONG, pa.array(too_long, pa.bool_()))
    return table


def iter_csv(path: Path, digest: Any, *, delimiter: str = ",", encoding: str = "utf-8",
             rows: int | None = None, max_row_chars: int | None = None) -> Iterator[pa.Table]:
    """Read a CSV file with a header row a chunk of ``rows`` at a time; every value stays a string.

    A record longer than ``max_row_chars`` (csv's field limit is raised to it) stands as a row of
    nulls with :data:`~hf_ftbuilder.schema.TOO_LONG` set, so it keeps its row number and is counted.

    Raises:
        SourceError: naming the file and line of a row with the wrong number of fields or bad quoting.
    """
    rows = rows or CHUNK_ROWS
    limit = max_row_chars or _CSV_DEFAULT_FIELD_LIMIT
    with _open(path) as fh, _csv_field_limit(limit):
        reader = csv.reader(_lines(path, fh, digest, encoding), delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise SourceError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
        if header is None:
            yield pa.table({})
            return
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise SourceError(f"{path}:1: the header repeats column names {dupes}")
        columns: list[list[str | None]] = [[] for _ in header]
        too_long: list[bool] = []
        emitted = False
        while True:
            try:
                row: list[str | None] | None = next(reader, None)
            except csv.Error as exc:
                if "field larger than field limit" not in str(exc):
                    raise SourceError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
                row = None  # the reader skips the rest of that record
                over = True
            else:
                if row is None:
                    break
                if not row:
                    continue
                if len(row) != len(header):
                    raise SourceError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields as in the header, found {len(row)}"
                    )
                over = max_row_chars is not None and sum(map(len, row)) > max_row_chars
            for i, values in enumerate(columns):
                values.append(None if over else row[i])  # type: ignore[index]
            too_long.append(over)
            if len(too_long) == rows:
                yield _csv_table(header, columns, too_long)
                columns, too_long, emitted = [[] for _ in header], [], True
    if too_long or not emitted:
        yield _csv_table(header, columns, too_long)


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


def list_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    if not root.is_dir():
        raise SourceError(f"{root}: folder not found")
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def file_sha256(path: Path) -> str:
    """sha256 of a file, read a megabyte at a time; a missing file is a SourceError naming it."""
    digest = hashlib.sha256()
    with _open(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text_dir(root: Path, *, pattern: str, encoding: str,
                  max_row_chars: int | None = None) -> tuple[pa.Table, dict[str, str]]:
    """Read a folder of text files, one file a row, in sorted path order.

    A file of more than ``4 * max_row_chars`` bytes (UTF-8 takes at most four a character) is
    hashed but not read, and one with more characters than that once decoded is not kept: both
    stand as rows with :data:`~hf_ftbuilder.schema.TOO_LONG` set.

    Returns:
        A table with ``text`` and ``file`` (path relative to ``root``), and sha256 per file.
    """
    texts, files, too_long, digests = [], [], [], {}
    for path in list_files(root, [pattern]):
        rel = path.relative_to(root).as_posix()
        if max_row_chars is not None and path.stat().st_size > 4 * max_row_chars:
            text = None
            digests[rel] = file_sha256(path)
        else:
            data = read_bytes(path)
            text = _decode(data, path, encoding)
            digests[rel] = file_digest(data)
            if max_row_chars is not None and len(text) > max_row_chars:
                text = None
        texts.append(text)
        too_long.append(text is None)
        files.append(rel)
    table = pa.table({schema.TEXT: pa.array(texts, pa.string()), schema.FILE: pa.array(files, pa.string())})
    if any(too_long):
        table = table.append_column(schema.TOO_LONG, pa.array(too_long, pa.bool_()))
    return table, digests
