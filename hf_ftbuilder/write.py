"""Write: parquet shards, ``quality.json``, ``dropped/``, ``review/`` and the dataset card, all or nothing.

Everything is written into a hidden temporary folder beside the target and moved into place
only once complete, so a failed build never leaves a half-written folder and never touches an
earlier build at the same path.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import DatasetDict

from . import schema
from .card import render_card
from .config import Recipe
from .errors import OutputError
from .stats import StageStats

__all__ = ["check_output_dir", "write"]

logger = logging.getLogger(__name__)

QUALITY_FILE = "quality.json"


def check_output_dir(out_dir: Path, *, overwrite: bool) -> None:
    """Fail early when ``out_dir`` exists and may not be replaced.

    Raises:
        OutputError: it exists without ``overwrite``, or it is not an earlier build.
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder")
    if not overwrite:
        raise OutputError(f"output folder {out_dir} exists; pass --overwrite or set output.overwrite: true")
    if any(out_dir.iterdir()) and not (out_dir / QUALITY_FILE).exists():
        raise OutputError(
            f"output folder {out_dir} is not an hf_ftbuilder build (no {QUALITY_FILE}); refusing to replace it"
        )


def _write_split(ds: Any, data_dir: Path, split: str, shard_rows: int) -> dict[str, int]:
    num_shards = max(1, math.ceil(ds.num_rows / shard_rows))
    num_bytes = download_size = 0
    for index in range(num_shards):
        path = data_dir / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        shard.to_parquet(str(path))
        # num_bytes is the Arrow size of the data as load_dataset will hold it, read back from disk.
        num_bytes += pq.read_table(path).nbytes
        download_size += path.stat().st_size
    return {"num_examples": ds.num_rows, "num_bytes": num_bytes, "download_size": download_size}


def _examples(stages: list[StageStats], per_reason: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for st in stages:
        rows = st.dropped_rows
        if rows is None or per_reason == 0:
            continue
        wanted = (schema.ID, schema.TEXT, schema.URL, schema.DROP_REASON, schema.DUP_OF)
        cols = [c for c in wanted if c in rows.column_names]
        for row in rows.select_columns(cols):
            bucket = out.setdefault(row[schema.DROP_REASON], [])
            if len(bucket) < per_reason:
                bucket.append({"id": row[schema.ID], "text": row[schema.TEXT], "url": row.get(schema.URL),
                               "dup_of": row.get(schema.DUP_OF)})
    return out


def _write_review(review_dir: Path, stages: list[StageStats]) -> None:
    """Rows and files that wait for a person (always written: a person must see them)."""
    for st in stages:
        for reason, rows in st.review_rows.items():
            review_dir.mkdir(exist_ok=True)
            rows.to_parquet(str(review_dir / f"{reason}.parquet"))
        for name, text in st.review_files.items():
            review_dir.mkdir(exist_ok=True)
            (review_dir / name).write_text(text, encoding="utf-8")


def _replace(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        tmp.rename(out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except OSError:
        old.rename(out_dir)
        raise
    shutil.rmtree(old)


def write(
    dd: DatasetDict,
    recipe: Recipe,
    *,
    out_dir: Path,
    overwrite: bool,
    stages: list[StageStats],
    quality: dict[str, Any],
    until: str | None = None,
) -> dict[str, dict[str, int]]:
    """Write the build into ``out_dir``.

    Args:
        dd: the splits to write.
        recipe: the recipe (output and card sections).
        out_dir: the output folder.
        overwrite: replace an earlier build at ``out_dir``.
        stages: every stage's stats; their ``dropped_rows`` go to ``dropped/<stage>.parquet``.
        quality: the content of ``quality.json``.
        until: the stage the build stopped after, if it stopped early (said in the card).

    Returns:
        Per split: ``num_examples``, ``num_bytes`` and ``download_size`` as written.

    Raises:
        OutputError: the folder may not be replaced or could not be written.
    """
    check_output_dir(out_dir, overwrite=overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "data").mkdir(parents=True)
        split_info = {}
        for name, ds in dd.items():
            ds = ds.select_columns(schema.output_order(ds.column_names))
            split_info[name] = _write_split(ds, tmp / "data", name, recipe.output.shard_rows)
        if recipe.output.write_dropped:
            for st in stages:
                if st.dropped_rows is not None and st.dropped_rows.num_rows:
                    (tmp / "dropped").mkdir(exist_ok=True)
                    st.dropped_rows.to_parquet(str(tmp / "dropped" / f"{st.name}.parquet"))
        _write_review(tmp / "review", stages)
        (tmp / QUALITY_FILE).write_text(json.dumps(quality, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        features = next(iter(dd.values())).select_columns(
            schema.output_order(next(iter(dd.values())).column_names)
        ).features
        card = render_card(
            recipe,
            features=features,
            split_info=split_info,
            quality=quality,
            examples=_examples(stages, recipe.report.examples_per_reason),
            until=until,
        )
        card.save(str(tmp / "README.md"))
        _replace(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {out_dir}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return split_info
