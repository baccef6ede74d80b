"""Readers for local inputs: each turns one file or folder into an Arrow table.

Readers only read: they name the file and line of anything malformed and leave column
renaming, row ids and provenance to :mod:`hf_ftbuilder.collect`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..errors import SourceError
from .urls import decode_html

__all__ = ["file_digest", "read_csv", "read_html_dir", "read_jsonl", "read_parquet", "read_text_dir"]


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


def read_jsonl(path: Path) -> tuple[pa.Table, str]:
    """Read a JSON Lines file (one object a line; blank lines are skipped).

    Returns:
        The table (columns in order of first appearance, missing keys as null) and the file's sha256.

    Raises:
        SourceError: naming the file and line of a line that is not a JSON object.
    """
    data = _read_bytes(path)
    columns: dict[str, list] = {}
    n = 0
    text = _decode(data, path, "utf-8")
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
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
    return _columns_to_table(columns, path), file_digest(data)


def read_csv(path: Path, *, delimiter: str = ",", encoding: str = "utf-8") -> tuple[pa.Table, str]:
    """Read a CSV file with a header row; every value stays a string.

    Raises:
        SourceError: naming the file and line of a row with the wrong number of fields or bad quoting.
    """
    data = _read_bytes(path)
    text = _decode(data, path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return pa.table({}), file_digest(data)
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise SourceError(f"{path}:1: the header repeats column names {dupes}")
        columns: list[list[str]] = [[] for _ in header]
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise SourceError(
                    f"{path}:{reader.line_num}: expected {len(header)} fields as in the header, found {len(row)}"
                )
            for values, value in zip(columns, row):
                values.append(value)
    except csv.Error as exc:
        raise SourceError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    table = pa.table({name: pa.array(values, pa.string()) for name, values in zip(header, columns)})
    return table, file_digest(data)


def read_parquet(path: Path) -> tuple[pa.Table, str]:
    """Read a parquet file."""
    data = _read_bytes(path)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path}: not a valid parquet file ({exc})") from None
    return table, file_digest(data)


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
