"""Balance: class balancing applied to train only, so no copy of a train row reaches test.

``method: none`` (the only method so far) passes the splits through and reports train's counts.
"""

from __future__ import annotations

from datasets import DatasetDict

from ..config import Balance
from ..stats import StageStats

__all__ = ["balance"]


def balance(dd: DatasetDict, cfg: Balance) -> tuple[DatasetDict, StageStats]:
    """Balance the train split as ``cfg.method`` says."""
    rows = dd["train"].num_rows
    return dd, StageStats(name="balance", rows_in=rows, rows_out=rows, details={"method": cfg.method})
