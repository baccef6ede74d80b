"""Saved HTML pages (.html, .htm, .html.gz) as rows: the ``html_dir`` source."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa

from .. import schema
from ..errors import SourceError
from ..readers import file_digest, list_files, read_bytes
from .urls import decode_html

__all__ = ["read_html_dir"]


def read_html_dir(root: Path, *, patterns: list[str]) -> tuple[pa.Table, dict[str, str]]:
    """Read a folder of saved pages (.html, .htm, .html.gz), one page a row.

    Pages are decoded as a browser would (BOM, ``<meta charset>``, then detection); the extract
    stage turns the ``html`` column into text.
    """
    pages, files, digests = [], [], {}
    for path in list_files(root, patterns):
        data = read_bytes(path)
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
