"""Extract: turn raw HTML rows into main text with trafilatura, keeping page metadata.

Rows collected from text files pass through unchanged. Pages get ``text`` plus ``title``,
``date``, ``language`` and ``url`` (the page's canonical URL where it declares one); a page
with no main text is dropped with reason ``no_main_text``. The language comes from the page's
``<html lang>`` or, failing that, from py3langid, which needs no download.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from datasets import Dataset, Value

from . import schema
from .config import Extract
from .stats import StageStats, split_dropped

__all__ = ["extract", "extract_batch", "html_lang"]

logger = logging.getLogger(__name__)

_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*", re.I)
_META_COLUMNS = (schema.TITLE, schema.DATE, schema.LANGUAGE, schema.URL)


def html_lang(html: bytes) -> str | None:
    """The primary language subtag of ``<html lang=...>``, lowercased (``en-US`` -> ``en``)."""
    match = _HTML_LANG.search(html[:65536])
    return match.group(1).decode("ascii").lower() if match else None


def _detect_language(text: str) -> str | None:
    import py3langid

    lang, _score = py3langid.classify(text[:2000])
    return lang


def _extract_page(html: bytes, cfg: dict[str, Any]) -> dict[str, Any] | None:
    import trafilatura

    options = {
        "include_comments": cfg["include_comments"],
        "include_tables": cfg["include_tables"],
        "favor_precision": cfg["favor_precision"],
    }
    doc = trafilatura.bare_extraction(html, with_metadata=True, **options)
    if doc is None:
        return None
    text = doc.text
    if cfg["format"] == "markdown":
        text = trafilatura.extract(html, output_format="markdown", include_formatting=True, **options)
    if not text or not text.strip():
        return None
    lang = html_lang(html)
    if lang is None and cfg["detect_language"]:
        lang = _detect_language(text)
    return {
        schema.TEXT: text,
        schema.TITLE: doc.title,
        schema.DATE: doc.date,
        schema.LANGUAGE: lang,
        schema.URL: doc.url,
    }


def extract_batch(batch: dict[str, list], *, cfg: dict[str, Any]) -> dict[str, list]:
    """Extract main text from the ``html`` of each row; rows without HTML keep their text.

    Args:
        batch: columns ``text`` and ``html`` (bytes or None).
        cfg: ``Extract.model_dump()``.

    Returns:
        ``text``, ``title``, ``date``, ``language``, ``url`` and ``drop_reason`` per row.
    """
    out: dict[str, list] = {name: [] for name in (schema.TEXT, *_META_COLUMNS, schema.DROP_REASON)}
    for text, html in zip(batch[schema.TEXT], batch[schema.HTML]):
        page = _extract_page(html, cfg) if html is not None else None
        if html is not None and page is None:
            page, reason = {schema.TEXT: None}, "no_main_text"
        else:
            page, reason = page or {schema.TEXT: text}, None
        for name in (schema.TEXT, *_META_COLUMNS):
            out[name].append(page.get(name))
        out[schema.DROP_REASON].append(reason)
    return out


def extract(ds: Dataset, cfg: Extract) -> tuple[Dataset, StageStats]:
    """Run trafilatura over the rows that hold HTML.

    Args:
        ds: collected rows; those with an ``html`` value are pages.
        cfg: the recipe's ``extract`` section.

    Returns:
        The rows with main text and page metadata (the ``html`` column removed), and the stats.
    """
    if schema.HTML not in ds.column_names:
        return ds, StageStats(name="extract", rows_in=ds.num_rows, rows_out=ds.num_rows)
    features = ds.features.copy()
    for name in (*_META_COLUMNS, schema.DROP_REASON):
        features[name] = Value("string")
    features[schema.TEXT] = Value("string")
    out = ds.map(
        extract_batch,
        batched=True,
        batch_size=64,
        fn_kwargs={"cfg": cfg.model_dump()},
        features=features,
        desc="extract",
    )
    out = out.remove_columns(schema.HTML)
    return split_dropped(out, "extract")
