"""Clean: normalise text and drop rows that end up empty or outside the word limits.

Each normaliser can be switched off in the recipe's ``clean`` section. Reasons: ``empty``
(nothing left after cleaning), ``too_short`` and ``too_long`` (``min_words``/``max_words``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

from datasets import Dataset, Value

from .. import schema
from ..config import Clean
from ..stats import StageStats, split_dropped

__all__ = ["clean", "clean_batch", "clean_text", "normalize"]

# HTML element names: only these count as leftover tags, so prose in angle brackets
# ("<The Palace: Tale of Jang Noksu>", a title on a Korean theatre's page) survives.
_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas caption "
    "center cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset "
    "figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd "
    "label legend li link main map mark meta meter nav noscript object ol optgroup option output p param "
    "picture pre progress q s samp script section select small source span strike strong style sub "
    "summary sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul var "
    "video wbr"
).split()
_ATTRIBUTE = r"""\s+[\w:.-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?"""
_TAG = re.compile(
    rf"<!--.*?-->|</?(?:{'|'.join(_ELEMENTS)})(?:{_ATTRIBUTE})*\s*/?>",
    re.S | re.I,
)
# Cc controls other than tab and newline, plus zero-width and bidi marks that render as nothing.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _unescape(text: str) -> str:
    # html.unescape is not idempotent ("&amp;lt;" -> "&lt;"): repeat until the text settles.
    for _ in range(5):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def clean_text(text: str, cfg: dict[str, Any]) -> str:
    """Apply the enabled normalisers of ``cfg`` (``Clean.model_dump()``) to one text."""
    if cfg["html"]:
        text = _TAG.sub(" ", _unescape(text))
    if cfg["unicode"] != "none":
        text = unicodedata.normalize(cfg["unicode"], text)
    if cfg["control_chars"]:
        text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if cfg["whitespace"]:
        lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    if cfg["lowercase"]:
        text = text.lower()
    return text


def clean_batch(batch: dict[str, list], *, cfg: dict[str, Any]) -> dict[str, list]:
    """Clean the ``text`` of a batch and give each row its ``drop_reason`` (None keeps it)."""
    texts, reasons = [], []
    min_words, max_words = cfg["min_words"], cfg["max_words"]
    for text in batch[schema.TEXT]:
        text = clean_text(text, cfg) if text else ""
        reason = None
        if not text:
            reason = "empty"
        elif min_words or max_words:
            words = len(text.split())
            if words < min_words:
                reason = "too_short"
            elif max_words is not None and words > max_words:
                reason = "too_long"
        texts.append(text)
        reasons.append(reason)
    return {schema.TEXT: texts, schema.DROP_REASON: reasons}


def clean(ds: Dataset, cfg: Clean) -> tuple[Dataset, StageStats]:
    """Normalise every text and drop the rows that are empty or outside the word limits.

    Args:
        ds: rows with a ``text`` column.
        cfg: the recipe's ``clean`` section.

    Returns:
        The cleaned rows and the stage's stats (dropped per reason).
    """
    features = ds.features.copy()
    features[schema.DROP_REASON] = Value("string")
    out = ds.map(
        clean_batch,
        batched=True,
        fn_kwargs={"cfg": cfg.model_dump()},
        features=features,
        desc="clean",
    )
    return split_dropped(out, "clean")


def normalize(ds: Dataset, **options: Any) -> tuple[Dataset, StageStats]:
    """Clean a dataset with keyword options, e.g. ``normalize(ds, lowercase=True, min_words=3)``."""
    return clean(ds, Clean(**options))
