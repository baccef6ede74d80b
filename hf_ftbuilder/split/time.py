"""Time-based splits: train is the past, validation and test the future.

Rows are ordered by ``time_column``. With ``cutoffs`` each later split starts at its date; without,
``fractions`` are cut from the rows in time order (ties stay on the earlier side only when they
fall there; no later row is ever older than a train row). ``embargo`` drops the rows dated within
that many days after each cut, so a model is never tested on the days right after its training
data ends. Rows without a date go where ``undated`` says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..allocation import allocate
from ..config import TimeSplit
from ..errors import StageError

__all__ = ["parse_date", "time_indices"]


def parse_date(value: Any) -> datetime | None:
    """A naive UTC datetime from an ISO 8601 string, a date or a datetime; None for empty values.

    Raises:
        ValueError: the value is not a date.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if not text:
            return None
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def time_indices(
    values: list[Any], ids: list[str], cfg: TimeSplit, fractions: dict[str, float]
) -> tuple[dict[str, list[int]], dict[str, list[int]], dict[str, Any]]:
    """Row indices per split, dropped row indices per reason (``embargo``, ``undated``), and details.

    Raises:
        StageError: a value is not a date, or rows have no date and ``undated`` is ``error``.
    """
    dates: list[datetime | None] = []
    for value, row_id in zip(values, ids):
        try:
            dates.append(parse_date(value))
        except ValueError:
            raise StageError(f"split.time_column: row {row_id}: {value!r} is not a date (ISO 8601 expected)") from None
    undated = [i for i, d in enumerate(dates) if d is None]
    if undated and cfg.undated == "error":
        raise StageError(
            f"split: {len(undated)} rows have no date in {cfg.time_column!r} (e.g. row {ids[undated[0]]}); "
            "set split.undated: train or drop"
        )
    dated = sorted((i for i, d in enumerate(dates) if d is not None), key=lambda i: (dates[i], i))
    names = [s for s, f in fractions.items() if f > 0]
    embargo = timedelta(days=cfg.embargo)
    out: dict[str, list[int]] = {s: [] for s in names}
    dropped: dict[str, list[int]] = {"embargo": [], "undated": []}
    if cfg.cutoffs:
        starts = {s: datetime(d.year, d.month, d.day) for s, d in cfg.cutoffs.items()}
        later = [s for s in ("validation", "test") if s in starts]
        out = {"train": [], **{s: [] for s in later}}
        for i in dated:
            current = "train"
            for s in later:
                if dates[i] >= starts[s]:
                    current = s
            if current != "train" and dates[i] < starts[current] + embargo:
                dropped["embargo"].append(i)
            else:
                out[current].append(i)
    else:
        counts = allocate(len(dated), [fractions[s] for s in names])
        start = 0
        for name, count in zip(names, counts):
            chunk = dated[start : start + count]
            start += count
            if name != "train" and chunk:
                first = dates[chunk[0]]
                assert first is not None
                keep = [i for i in chunk if dates[i] >= first + embargo]  # type: ignore[operator]
                dropped["embargo"].extend(i for i in chunk if dates[i] < first + embargo)  # type: ignore[operator]
                chunk = keep
            out[name].extend(chunk)
    if undated:
        (out["train"] if cfg.undated == "train" else dropped["undated"]).extend(undated)
    details = {
        "time_column": cfg.time_column,
        "embargo_days": cfg.embargo,
        "ranges": {
            s: [min(dates[i] for i in rows if dates[i]).isoformat(), max(dates[i] for i in rows if dates[i]).isoformat()]
            for s, rows in out.items() if any(dates[i] for i in rows)
        },
        "undated": {"rows": len(undated), "to": cfg.undated} if undated else None,
    }
    return ({s: sorted(v) for s, v in out.items()}, {r: sorted(v) for r, v in dropped.items() if v}, details)
