"""Collect: read every source of the recipe into one dataset with ``id`` and ``source``.

Rows keep input order (sources in recipe order, rows in file order). Each row's ``id`` is the
first 16 hex digits of sha256 over its origin, ``<source index>:<path relative to the
recipe>:<row number>``, so it stays the same from build to build. A file's ``date``, ``url``,
``title``, ``author`` and ``language`` columns (or the columns its ``<name>_column`` keys name) fill
the project's columns of those names; input columns named like the columns the project fills itself
(``id, text, source, label, label_score, ...``) are kept as ``source_<name>``, except the configured
text and label columns.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from datasets import Dataset, Features
from datasets.table import InMemoryTable

from .. import schema
from ..arrow_cache import persist
from ..config import (
    Collect,
    CrawlSource,
    CsvSource,
    Fetch,
    HfSource,
    HtmlDirSource,
    JsonlSource,
    ParquetSource,
    SitemapSource,
    Source,
    SourceColumns,
    TextDirSource,
    UrlsSource,
    WarcSource,
)
from ..context import StageContext
from ..errors import SourceError, StageError
from ..memory import release_mapped_pages
from ..readers import file_sha256, iter_csv, iter_jsonl, iter_parquet, read_text_dir
from ..stats import StageStats, split_dropped
from . import web
from .fetch import Fetcher, HttpFetcher
from .fetch_cache import FetchCache
from .html_dir import read_html_dir
from .hub import decode_class_labels, read_hf
from .urls import decode_html, host_of, normalize_url
from .warc import read_warc

__all__ = ["collect", "row_id"]

logger = logging.getLogger(__name__)


def row_id(origin: str) -> str:
    """The stable row id: first 16 hex digits of sha256 over the row's origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()[:16]


def _rel(path: Path, base_dir: Path) -> str:
    return Path(os.path.relpath(path, base_dir)).as_posix()


def _expand(pattern: str, base_dir: Path) -> list[Path]:
    full = base_dir / pattern
    if glob.has_magic(pattern):
        matches = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
        if not matches:
            raise SourceError(f"{full}: no file matches this pattern")
        return matches
    if not full.exists():
        raise SourceError(f"{full}: file not found")
    return [full]


def _rename_columns(table: pa.Table, cols: SourceColumns, *, label_column: str | None, where: str) -> pa.Table:
    """Give the input's columns the project's names.

    The text column becomes ``text``; the ``<name>_column`` keys' columns become ``date``, ``url``,
    ... (a column of the file already called so is then kept as ``source_<name>``); a column named
    like one the project fills itself (``id``, ``label_score``, ``dup_cluster``, ...) is kept as
    ``source_<name>``, except the configured label column; every other column keeps its name.
    """
    names = table.column_names
    text_column = cols.text_column
    if text_column not in names:
        raise SourceError(f"{where}: no text column {text_column!r} (columns: {', '.join(names) or 'none'})")
    mapped = {column: target for target, column in cols.metadata_columns().items()}
    for column in mapped:
        if column not in names:
            raise SourceError(f"{where}: no column {column!r} for {mapped[column]} "
                              f"({mapped[column]}_column; columns: {', '.join(names)})")
    displaced = set(mapped.values())
    renamed = []
    for name in names:
        if name == text_column:
            renamed.append(schema.TEXT)
        elif name in mapped:
            renamed.append(mapped[name])
        elif name == label_column or (name not in schema.RESERVED and name not in displaced):
            renamed.append(name)
        else:
            renamed.append(schema.RENAMED_PREFIX + name)
    table = table.rename_columns(renamed)
    if not pa.types.is_string(table.schema.field(schema.TEXT).type):
        try:
            table = table.set_column(renamed.index(schema.TEXT), schema.TEXT, table.column(schema.TEXT).cast(pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SourceError(f"{where}: text column {text_column!r} does not hold text ({exc})") from None
    return table


def _with_identity(table: pa.Table, origins: list[str], source: str) -> pa.Table:
    ids = pa.array([row_id(o) for o in origins], pa.string())
    sources = pa.array([source] * len(origins), pa.string())
    rest = [c for c in table.column_names if c != schema.TEXT]
    table = table.select([schema.TEXT, *rest])
    return table.add_column(0, schema.ID, ids).add_column(2, schema.SOURCE, sources)


def _too_long_rows(table: pa.Table, max_row_chars: int | None) -> pa.Table:
    """Rows a reader did not read, or whose text (or HTML) is longer than ``max_row_chars``: their
    text emptied and ``drop_reason`` set to ``too_long_row``, so collect drops and counts them."""
    flags = table.column(schema.TOO_LONG) if schema.TOO_LONG in table.column_names else None
    if max_row_chars is not None:
        for name in (schema.TEXT, schema.HTML):
            if name in table.column_names:
                over = pc.fill_null(pc.greater(pc.utf8_length(table.column(name)), max_row_chars), False)
                flags = over if flags is None else pc.or_(pc.fill_null(flags, False), over)
    if flags is None:
        return table
    flags = pc.fill_null(flags, False)
    if schema.TOO_LONG in table.column_names:
        table = table.drop_columns([schema.TOO_LONG])
    if not pc.any(flags).as_py():
        return table
    for name in (schema.TEXT, schema.HTML):
        if name in table.column_names:
            column = table.column(name)
            table = table.set_column(table.column_names.index(name), name,
                                     pc.if_else(flags, pa.scalar(None, column.type), column))
    reasons = pc.if_else(flags, pa.scalar("too_long_row"), pa.scalar(None, pa.string()))
    if schema.DROP_REASON in table.column_names:
        index = table.column_names.index(schema.DROP_REASON)
        table = table.set_column(index, schema.DROP_REASON, pc.coalesce(table.column(schema.DROP_REASON), reasons))
    else:
        table = table.append_column(schema.DROP_REASON, reasons)
    return table


def _read_source(
    index: int, src: Source, base_dir: Path, label_column: str | None, digests: dict[str, str],
    max_row_chars: int | None,
) -> Iterator[pa.Table]:
    """The rows of one source, a chunk at a time for files (ids and provenance added); fills ``digests``."""
    tables: list[pa.Table] = []
    if isinstance(src, (JsonlSource, CsvSource, ParquetSource)):
        for path in _expand(src.path, base_dir):
            rel = _rel(path, base_dir)
            digest = hashlib.sha256()
            if isinstance(src, JsonlSource):
                chunks = iter_jsonl(path, digest, max_row_chars=max_row_chars, text_column=src.text_column)
            elif isinstance(src, CsvSource):
                chunks = iter_csv(path, digest, delimiter=src.delimiter, encoding=src.encoding,
                                  max_row_chars=max_row_chars)
            else:
                chunks = iter_parquet(path, digest)
            offset = 0
            for table in chunks:
                if table.num_rows == 0:
                    continue
                if isinstance(src, ParquetSource):
                    table = decode_class_labels(table, _features_of(table))
                table = _rename_columns(table, src, label_column=label_column, where=str(path))
                table = _too_long_rows(table, max_row_chars)
                origins = [f"{index}:{rel}:{offset + i}" for i in range(table.num_rows)]
                offset += table.num_rows
                yield _with_identity(table, origins, f"{src.type}:{rel}")
            digests[rel] = digest.hexdigest()
    elif isinstance(src, (TextDirSource, HtmlDirSource)):
        root = base_dir / src.path
        rel_root = _rel(root, base_dir)
        if isinstance(src, TextDirSource):
            table, file_digests = read_text_dir(root, pattern=src.pattern, encoding=src.encoding,
                                                max_row_chars=max_row_chars)
        else:
            table, file_digests = read_html_dir(root, patterns=src.patterns)
        digests.update({f"{rel_root}/{k}": v for k, v in file_digests.items()})
        table = _too_long_rows(table, max_row_chars)
        if table.num_rows:
            files = table.column(schema.FILE).to_pylist()
            origins = [f"{index}:{rel_root}/{f}:0" for f in files]
            tables.append(_with_identity(table, origins, f"{src.type}:{rel_root}"))
    elif isinstance(src, HfSource):
        local_path = base_dir / src.path
        local = local_path.exists()
        where = _rel(local_path, base_dir) if local else src.path
        table, digest = read_hf(local_path if local else src.path, split=src.split, local=local)
        digests[f"{where}[{src.split}]"] = digest
        if table.num_rows:
            table = _too_long_rows(_rename_columns(table, src, label_column=label_column, where=where), max_row_chars)
            origins = [f"{index}:{where}[{src.split}]:{i}" for i in range(table.num_rows)]
            tables.append(_with_identity(table, origins, f"hf:{where}"))
    elif isinstance(src, WarcSource):
        for path in _expand(src.path, base_dir):
            rel = _rel(path, base_dir)
            table = _too_long_rows(_warc_table(path, rel), max_row_chars)
            digests[rel] = file_sha256(path)
            if table.num_rows:
                tables.append(table)
    else:  # pragma: no cover - the config union admits no other type
        raise SourceError(f"sources[{index}]: unsupported source type {src.type!r}")
    yield from tables


_WEB_FIELDS = {
    schema.ID: pa.string(),
    schema.TEXT: pa.string(),
    schema.SOURCE: pa.string(),
    schema.HTML: pa.string(),
    schema.URL: pa.string(),
    schema.FETCHED_AT: pa.string(),
    schema.HTTP_STATUS: pa.int32(),
    schema.DROP_REASON: pa.string(),
}


def _warc_table(path: Path, rel: str) -> pa.Table:
    rows = []
    for rec in read_warc(path):
        rows.append({
            schema.ID: row_id(f"{rel}:{rec.offset}"),
            schema.TEXT: None,
            schema.SOURCE: f"warc:{rel}",
            schema.HTML: decode_html(rec.body, rec.content_type) if rec.reason is None else None,
            schema.URL: rec.url,
            schema.FETCHED_AT: rec.date,
            schema.HTTP_STATUS: rec.status,
            schema.DROP_REASON: rec.reason,
        })
    return pa.Table.from_pylist(rows, schema=pa.schema(_WEB_FIELDS))


def _web_table(src: Source, pages: list[web.WebPage], seen: set[str]) -> pa.Table:
    rows = []
    for page in pages:
        r = page.result
        url = r.final_url if r.ok else r.url
        ident = row_id(normalize_url(url))
        reason = r.reason
        if reason is None and ident in seen:
            reason = "duplicate_url"  # another URL redirected to the same page
        seen.add(ident)
        row = {
            schema.ID: ident,
            schema.TEXT: None,
            schema.SOURCE: f"{src.type}:{host_of(url)}",
            schema.HTML: decode_html(r.body, r.content_type) if reason is None and r.body is not None else None,
            schema.URL: url,
            schema.FETCHED_AT: r.fetched_at,
            schema.HTTP_STATUS: r.status,
            schema.DROP_REASON: reason,
        }
        if isinstance(src, SitemapSource):
            row[schema.LASTMOD] = page.lastmod
        rows.append(row)
    fields = dict(_WEB_FIELDS)
    if isinstance(src, SitemapSource):
        fields[schema.LASTMOD] = pa.string()
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def _features_of(table: pa.Table) -> dict[str, Any]:
    try:
        return dict(Features.from_arrow_schema(table.schema))
    except (ValueError, KeyError, TypeError):  # metadata written by another tool: nothing to decode
        return {}


def _concat(tables: list[pa.Table], descriptions: list[str]) -> pa.Table:
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        fields: dict[str, tuple[pa.DataType, str]] = {}
        for table, desc in zip(tables, descriptions):
            for f in table.schema:
                if f.name in fields and fields[f.name][0] != f.type and not pa.types.is_null(f.type):
                    other_type, other = fields[f.name]
                    raise SourceError(
                        f"column {f.name!r} is {other_type} in {other} but {f.type} in {desc}; "
                        "make the sources agree"
                    ) from None
                fields.setdefault(f.name, (f.type, desc))
        raise SourceError(f"the sources cannot be combined ({exc})") from None


def collect(
    sources: list[Source],
    cfg: Collect | None = None,
    *,
    context: StageContext | None = None,
    fetch: Fetch | None = None,
    label_column: str | None = None,
    refresh: bool = False,
    fetcher: Fetcher | None = None,
) -> tuple[Dataset, StageStats]:
    """Read every source into one dataset.

    The first stage: its input is the recipe's ``sources``, not rows.

    Args:
        sources: the recipe's ``sources``.
        cfg: the recipe's ``collect`` section (``max_row_chars``: longer rows, a JSON line, a CSV
            record, a file, a text or a page's HTML, are dropped as ``too_long_row`` unparsed).
        context: ``base_dir``, where relative source paths start (the recipe's folder);
            ``cache_dir``, where web responses (``<cache_dir>/fetch``) and the collected rows
            (``<cache_dir>/datasets``) are kept; ``progress``, bars while fetching.
        fetch: the recipe's ``fetch`` section, for web sources.
        label_column: the configured label column; it keeps its name even if the project uses it.
        refresh: fetch web pages again even when the cache holds them.
        fetcher: fetches web pages (default: an :class:`HttpFetcher` over the cache).

    Returns:
        The rows with ``id`` and ``source`` (and ``html`` for pages still to extract), and the
        stage's stats; ``details`` holds rows per source and the sha256 of every input file.
        Web pages that could not be fetched are dropped with their reason (``http_404``, ...).

    Raises:
        SourceError: a source is missing or malformed.
        StageError: the sources gave no rows.
    """
    context = context or StageContext()
    cfg = cfg or Collect()
    cache_dir, base_dir, progress, max_row_chars = context.cache_dir, context.base_dir, context.progress, cfg.max_row_chars
    parts = _Parts(Path(cache_dir) / "datasets" if cache_dir is not None else None)
    try:
        ds, stats = _collect(parts, sources, Path(base_dir), label_column=label_column, fetch=fetch,
                             cache_dir=cache_dir, refresh=refresh, fetcher=fetcher, progress=progress,
                             max_row_chars=max_row_chars)
        if cache_dir is not None:
            # Backed by a file in cache_dir, every later map step is cached between builds.
            ds = persist(ds, Path(cache_dir) / "datasets", "collect")
    finally:
        parts.close()
    return ds, stats


def _table_fingerprint(table: pa.Table) -> str:
    """xxh3 of a table's schema and buffers: without it, ``Dataset`` pickles the whole table to
    fingerprint it, a second copy of the corpus in memory."""
    digest = xxhash.xxh3_128(table.schema.to_string().encode())
    for column in table.columns:
        for chunk in column.chunks:
            digest.update(str((chunk.offset, len(chunk))).encode())
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
            release_mapped_pages()  # the spilled chunk's pages, read once to hash them
    return digest.hexdigest()


class _Parts:
    """The collected chunks, spilled to Arrow files and memory-mapped back (in memory without a folder).

    Files are read a chunk at a time, so at most one chunk's Python objects exist at once; the
    chunks are joined (and their columns unified) only as memory-mapped tables, then written once.
    """

    def __init__(self, folder: Path | None) -> None:
        self.tables: list[pa.Table] = []
        self.descriptions: list[str] = []
        self.folder: Path | None = None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(dir=folder, prefix=".collect-"))

    def add(self, table: pa.Table, description: str) -> None:
        if self.folder is not None:
            path = self.folder / f"{len(self.tables):06d}.arrow"
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
        self.tables.append(table)
        self.descriptions.append(description)

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _collect(
    parts: _Parts,
    sources: list[Source],
    base_dir: Path,
    *,
    label_column: str | None,
    fetch: Fetch | None,
    cache_dir: Path | None,
    refresh: bool,
    fetcher: Fetcher | None,
    progress: bool,
    max_row_chars: int | None,
) -> tuple[Dataset, StageStats]:
    inputs: dict[str, str] = {}
    per_source: list[dict[str, Any]] = []
    seen_web: set[str] = set()
    if fetcher is None and any(isinstance(s, (UrlsSource, SitemapSource, CrawlSource)) for s in sources):
        cache = FetchCache(Path(cache_dir) / "fetch") if cache_dir is not None else None
        fetcher = HttpFetcher(fetch or Fetch(), cache=cache, refresh=refresh, progress=progress)
    for index, src in enumerate(sources):
        if isinstance(src, (UrlsSource, SitemapSource, CrawlSource)):
            assert fetcher is not None
            if isinstance(src, UrlsSource):
                pages = web.urls(src, Path(base_dir), fetcher)
                if src.path:
                    inputs[_rel(Path(base_dir) / src.path, Path(base_dir))] = file_sha256(Path(base_dir) / src.path)
            elif isinstance(src, SitemapSource):
                pages = web.sitemap(src, fetcher)
            else:
                pages = web.crawl(src, fetcher)
            src_tables: Iterable[pa.Table] = [_web_table(src, pages, seen_web)] if pages else []
        else:
            src_tables = _read_source(index, src, Path(base_dir), label_column, inputs, max_row_chars)
        rows = 0
        for table in src_tables:
            parts.add(table, f"sources[{index}] ({_describe(src)})")
            rows += table.num_rows
        per_source.append({"type": src.type, "path": _describe(src), "rows": rows})
        logger.debug("sources[%d] %s:%s gave %d rows", index, src.type, _describe(src), rows)
    if not parts.tables:
        listed = ", ".join(f"{s['type']}:{s['path']}" for s in per_source)
        raise StageError(f"collect: the sources gave no rows (empty corpus: {listed})")
    table = parts.tables[0] if len(parts.tables) == 1 else _concat(parts.tables, parts.descriptions)
    ds = Dataset(InMemoryTable(table), fingerprint=_table_fingerprint(table))
    if schema.DROP_REASON in ds.column_names:
        ds, stats = split_dropped(ds, "collect")
    else:
        stats = StageStats(name="collect", rows_in=ds.num_rows, rows_out=ds.num_rows)
    stats.details = {"sources": per_source, "inputs": dict(sorted(inputs.items()))}
    if isinstance(fetcher, HttpFetcher):
        stats.details["fetch"] = dict(sorted(fetcher.counts.items()))
    if stats.rows_out == 0:
        raise StageError(f"collect: no page could be used ({stats.summary()})")
    return ds, stats


def _describe(src: Source) -> str:
    if isinstance(src, UrlsSource):
        return src.path or f"{len(src.urls or [])} urls"
    if isinstance(src, SitemapSource):
        return src.url
    if isinstance(src, CrawlSource):
        return ", ".join(src.seeds)
    return src.path
