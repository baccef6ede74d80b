"""Extract: turn HTML rows into main text with trafilatura, keeping page metadata.

Rows collected from text sources pass through unchanged. Pages get ``text`` plus ``title``,
``author``, ``date``, ``sitename``, ``language`` and, where collect did not already know it,
``url`` (the page's canonical URL). A page with no main text is dropped as ``no_main_text``; a
page that takes longer than ``extract.timeout`` as ``extract_timeout``. The language comes from
the page's ``<html lang>`` or, failing that, from py3langid, which needs no download
(trafilatura leaves it empty without a ``target_language``).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from datasets import Dataset, Value

from . import schema
from .config import Extract
from .context import StageContext
from .stats import StageStats, split_dropped

__all__ = ["extract", "extract_batch", "html_lang"]

logger = logging.getLogger(__name__)

_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*", re.I)
_META_COLUMNS = (schema.TITLE, schema.AUTHOR, schema.DATE, schema.SITENAME, schema.LANGUAGE)


class _PageTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _PageTimeout after ``seconds`` (SIGALRM: main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise _PageTimeout

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def html_lang(html: str) -> str | None:
    """The primary language subtag of ``<html lang=...>``, lowercased (``en-US`` -> ``en``)."""
    match = _HTML_LANG.search(html[:65536])
    return match.group(1).lower() if match else None


def _detect_language(text: str) -> str | None:
    import py3langid

    lang, _score = py3langid.classify(text[:2000])
    return lang


def _extract_page(html: str, cfg: Extract) -> dict[str, Any] | None:
    import trafilatura

    options = {
        "include_comments": cfg.include_comments,
        "include_tables": cfg.include_tables,
        "favor_precision": cfg.favor_precision,
    }
    doc = trafilatura.bare_extraction(html, with_metadata=True, **options)
    if doc is None:
        return None
    text = doc.text
    if cfg.format == "markdown":
        text = trafilatura.extract(html, output_format="markdown", include_formatting=True, **options)
    if not text or not text.strip():
        return None
    lang = html_lang(html)
    if lang is None and cfg.detect_language:
        lang = _detect_language(text)
    return {
        schema.TEXT: text,
        schema.TITLE: doc.title,
        schema.AUTHOR: doc.author,
        schema.DATE: doc.date,
        schema.SITENAME: doc.sitename,
        schema.LANGUAGE: lang,
        schema.URL: doc.url,
    }


def extract_batch(batch: dict[str, list], *, cfg: Extract) -> dict[str, list]:
    """Extract main text from the ``html`` of each row; rows without HTML keep their text.

    Args:
        batch: columns ``text``, ``html`` (str or None) and ``url``.
        cfg: the recipe's ``extract`` section.

    Returns:
        ``text``, the metadata columns, ``url`` and ``drop_reason`` per row.
    """
    names = (schema.TEXT, *_META_COLUMNS, schema.URL, schema.DROP_REASON)
    out: dict[str, list] = {name: [] for name in names}
    for i, (html, url) in enumerate(zip(batch[schema.HTML], batch[schema.URL])):
        # A row from a text source keeps what it had (a user's own `author` column survives).
        page: dict[str, Any] | None = {name: batch[name][i] for name in names[:-2] if name in batch}
        reason = None
        if html is not None:
            try:
                with _time_limit(cfg.timeout):
                    page = _extract_page(html, cfg)
            except _PageTimeout:
                page, reason = None, "extract_timeout"
            if page is None:
                page, reason = {}, reason or "no_main_text"
        for name in names[:-2]:
            out[name].append(page.get(name))
        out[schema.URL].append(url if url is not None else page.get(schema.URL))
        out[schema.DROP_REASON].append(reason)
    return out


def extract(ds: Dataset, cfg: Extract, *, context: StageContext | None = None) -> tuple[Dataset, StageStats]:
    """Run trafilatura over the rows that hold HTML.

    Args:
        ds: collected rows; those with an ``html`` value are pages.
        cfg: the recipe's ``extract`` section.
        context: where the map steps run (``context.engine``).

    Returns:
        The rows with main text and page metadata (the ``html`` column removed), and the stats.
    """
    if schema.HTML not in ds.column_names:
        return ds, StageStats(name="extract", rows_in=ds.num_rows, rows_out=ds.num_rows)
    if schema.URL not in ds.column_names:
        ds = ds.add_column(schema.URL, [None] * ds.num_rows, feature=Value("string"))
    features = ds.features.copy()
    for name in (schema.TEXT, *_META_COLUMNS, schema.URL, schema.DROP_REASON):
        features[name] = Value("string")
    out = (context or StageContext()).engine.map(
        ds, extract_batch, batch_size=64, fn_kwargs={"cfg": cfg}, features=features, desc="extract"
    )
    out = out.remove_columns(schema.HTML)
    return split_dropped(out, "extract")
