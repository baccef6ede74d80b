"""Clean: normalise, redact personal data, remove boilerplate lines and filter rows.

Four ``Dataset.map`` steps, each a module-level batch function with a small config, so the
``datasets`` cache serves a rebuild whose ``clean`` section did not change:

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

from datasets import Dataset, Sequence, Value

from .. import schema
from ..config import Clean
from ..stats import StageStats, split_dropped
from .boilerplate import line_hashes_batch, repeated_lines, strip_boilerplate_batch
from .filters import filter_batch, filter_text
from .normalizers import NORMALISERS, normalize_batch, normalize_text
from .pii import PII_TYPES, redact_batch, redact_text

__all__ = [
    "clean",
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

_TOUCHED = "_touched"
_PII = "_pii"
_LINE_HASHES = "_line_hashes"


def _features(ds: Dataset, **extra: Any):
    features = ds.features.copy()
    features.update(extra)
    return features


def clean(ds: Dataset, cfg: Clean) -> tuple[Dataset, StageStats]:
    """Normalise, redact, strip boilerplate and filter the rows.

    Args:
        ds: rows with a ``text`` column.
        cfg: the recipe's ``clean`` section.

    Returns:
        The kept rows and the stage's stats: dropped per reason, and in ``details`` the rows
        each rule touched (``touched``), PII matches per type and rows with PII (``pii``), and
        the number of boilerplate lines found.
    """
    settings = cfg.model_dump()
    touched_list = Sequence(Value("string"))
    ds = ds.map(
        normalize_batch,
        batched=True,
        fn_kwargs={"cfg": settings},
        features=_features(ds, text=Value("string"), **{_TOUCHED: touched_list}),
        desc="clean: normalise",
    )
    pii_on = any(settings["pii"][kind] for kind in PII_TYPES)
    if pii_on:
        ds = ds.map(
            redact_batch,
            batched=True,
            fn_kwargs={"cfg": settings["pii"]},
            features=_features(ds, **{_PII: Sequence(Value("string")), schema.DROP_REASON: Value("string")}),
            desc="clean: personal data",
        )
    else:
        ds = ds.add_column(schema.DROP_REASON, [None] * ds.num_rows, feature=Value("string"))
    boilerplate_lines = 0
    if cfg.boilerplate.enabled:
        hashed = ds.map(
            line_hashes_batch,
            batched=True,
            features=_features(ds, **{_LINE_HASHES: Sequence(Value("int64"))}),
            desc="clean: count lines",
        )
        repeated = repeated_lines(list(hashed[_LINE_HASHES]), cfg.boilerplate.min_docs)
        boilerplate_lines = len(repeated)
        if repeated:
            ds = ds.map(
                strip_boilerplate_batch,
                batched=True,
                fn_kwargs={"repeated": repeated},
                desc="clean: boilerplate",
            )
    ds = ds.map(filter_batch, batched=True, fn_kwargs={"cfg": settings}, desc="clean: filter")

    touched = Counter(name for names in ds[_TOUCHED] for name in names)
    details: dict[str, Any] = {
        "touched": {name: touched[name] for name, _ in NORMALISERS if touched[name]}
        | {name: touched[name] for name in ("boilerplate", "c4_lines") if touched[name]},
        "boilerplate_lines": boilerplate_lines,
    }
    if pii_on:
        found = list(ds[_PII])
        details["pii"] = {
            "action": cfg.pii.action,
            "matches": {kind: sum(row.count(kind) for row in found) for kind in PII_TYPES if settings["pii"][kind]},
            "rows": sum(1 for row in found if row),
        }
        ds = ds.remove_columns(_PII)
    ds = ds.remove_columns(_TOUCHED)
    kept, stats = split_dropped(ds, "clean")
    stats.details = details
    return kept, stats


def normalize(ds: Dataset, **options: Any) -> tuple[Dataset, StageStats]:
    """Clean a dataset with keyword options, e.g. ``normalize(ds, lowercase=True, min_words=3)``."""
    return clean(ds, Clean(**options))
