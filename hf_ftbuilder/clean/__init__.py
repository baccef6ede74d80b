"""Clean: normalise, redact personal data, remove boilerplate lines and filter rows.

Four steps, each a module-level batch function with a small config, run in two ``Dataset.map``
passes (:func:`prepare_batch`, then :func:`finish_batch`), so the ``datasets`` cache serves a
rebuild whose ``clean`` section did not change:

1. :func:`~.normalizers.normalize_batch`: the normalisers switched on in ``clean``;
2. :func:`~.pii.redact_batch`: e-mails, phones, IPs, cards, IBANs (``clean.pii``);
3. :func:`~.boilerplate.line_hashes_batch` then :func:`~.boilerplate.strip_boilerplate_batch`:
   lines repeated across ``boilerplate.min_docs`` documents;
4. :func:`~.filters.filter_batch`: length, language, Gopher and C4 rules.

Every removed row keeps its reason (``empty``, ``pii``, ``boilerplate``, ``too_short``,
``language``, ``gopher_*``, ``repetition_*``, ``c4_*``); the stats count the rows each
normaliser touched and the PII found per type.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.compute as pc
from datasets import Dataset, Sequence, Value

from .. import schema
from ..config import Clean
from ..context import StageContext
from ..stats import StageStats, split_dropped
from .boilerplate import line_hashes_batch, repeated_lines, strip_boilerplate_batch
from .filters import filter_batch, filter_text
from .normalizers import NORMALISERS, normalize_batch, normalize_text
from .pii import PII_TYPES, redact_batch, redact_text

__all__ = [
    "clean",
    "finish_batch",
    "prepare_batch",
    "filter_batch",
    "filter_text",
    "line_hashes_batch",
    "normalize",
    "normalize_batch",
    "normalize_text",
    "redact_batch",
    "redact_text",
    "strip_boilerplate_batch",
]



def _value_counts(lists: Any) -> Counter[str]:
    """How often each string occurs in a list column, counted in Arrow (no Python list per row)."""
    counts = pc.value_counts(pc.list_flatten(lists))
    return Counter(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def _features(ds: Dataset, **extra: Any):
    features = ds.features.copy()
    features.update(extra)
    return features


def prepare_batch(batch: dict[str, list], *, cfg: Clean, boilerplate: bool) -> dict[str, list]:
    """Pass 1: normalise, redact, and hash the lines that the boilerplate count needs."""
    out = dict(batch)
    out.update(normalize_batch(out, cfg=cfg))
    if any(getattr(cfg.pii, kind) for kind in PII_TYPES):
        out.update(redact_batch(out, cfg=cfg.pii))
    else:
        out[schema.PII_FOUND] = [[] for _ in out[schema.TEXT]]
        out[schema.DROP_REASON] = [None] * len(out[schema.TEXT])
    if boilerplate:
        out.update(line_hashes_batch(out))
    return out


def finish_batch(batch: dict[str, list], *, cfg: Clean, repeated: list[int]) -> dict[str, list]:
    """Pass 2: strip the repeated lines, then apply the filters."""
    out = dict(batch)
    if repeated:
        out.update(strip_boilerplate_batch(out, repeated=repeated))
    out.update(filter_batch(out, cfg=cfg))
    out.pop(schema.LINE_HASHES, None)  # read, not written
    return out


def clean(ds: Dataset, cfg: Clean, *, context: StageContext | None = None) -> tuple[Dataset, StageStats]:
    """Normalise, redact, strip boilerplate and filter the rows, in two passes over the texts.

    Args:
        ds: rows with a ``text`` column.
        cfg: the recipe's ``clean`` section.
        context: where the map steps run (``context.engine``).

    Returns:
        The kept rows and the stage's stats: dropped per reason, and in ``details`` the rows
        each rule touched (``touched``), PII matches per type and rows with PII (``pii``), and
        the number of boilerplate lines found.
    """
    extra = {schema.TOUCHED: Sequence(Value("string")), schema.PII_FOUND: Sequence(Value("string")), schema.DROP_REASON: Value("string")}
    if cfg.boilerplate.enabled:
        extra[schema.LINE_HASHES] = Sequence(Value("int64"))
    # Two passes, not one per step: every map pass rewrites the texts to an Arrow cache file,
    # which cost more than the rules themselves when each step had its own pass.
    engine = (context or StageContext()).engine
    ds = engine.map(
        ds,
        prepare_batch,
        fn_kwargs={"cfg": cfg, "boilerplate": cfg.boilerplate.enabled},
        features=_features(ds, text=Value("string"), **extra),
        desc="clean: normalise and redact",
    )
    repeated: list[int] = []
    features = ds.features.copy()
    if cfg.boilerplate.enabled:
        repeated = repeated_lines(ds.with_format("arrow")[schema.LINE_HASHES], cfg.boilerplate.min_docs)
        del features[schema.LINE_HASHES]
    # Each row's line hashes go into pass 2, where a row without a repeated one is left alone.
    ds = engine.map(
        ds,
        finish_batch,
        fn_kwargs={"cfg": cfg, "repeated": repeated},
        features=features,
        remove_columns=[schema.LINE_HASHES] if cfg.boilerplate.enabled else None,
        desc="clean: boilerplate and filters",
    )
    pii_on = any(getattr(cfg.pii, kind) for kind in PII_TYPES)
    touched = _value_counts(ds.with_format("arrow")[schema.TOUCHED])
    details: dict[str, Any] = {
        "touched": {name: touched[name] for name, _ in NORMALISERS if touched[name]}
        | {name: touched[name] for name in ("boilerplate", "c4_lines") if touched[name]},
        "boilerplate_lines": len(repeated),
    }
    if pii_on:
        found = ds.with_format("arrow")[schema.PII_FOUND]
        matches = _value_counts(found)
        details["pii"] = {
            "action": cfg.pii.action,
            "matches": {kind: matches[kind] for kind in PII_TYPES if getattr(cfg.pii, kind)},
            "rows": int(pc.sum(pc.greater(pc.list_value_length(found), 0)).as_py() or 0),
        }
    ds = ds.remove_columns([schema.PII_FOUND, schema.TOUCHED])
    kept, stats = split_dropped(ds, "clean")
    stats.details = details
    return kept, stats


def normalize(ds: Dataset, **options: Any) -> tuple[Dataset, StageStats]:
    """Clean a dataset with keyword options, e.g. ``normalize(ds, lowercase=True, min_words=3)``."""
    return clean(ds, Clean(**options))
