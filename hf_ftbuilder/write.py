"""Write: parquet shards, ``quality.json``, ``recipe.yaml``, ``dropped/``, ``review/`` and the card, all or nothing.

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
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import DatasetDict

from . import schema
from .atomic_dir import crash_point, hidden_sibling, replace_dir
from .card import compile_template, render_card, template_text
from .config import Output
from .engine import aside
from .errors import OutputError
from .memory import release_mapped_pages
from .plots import render as render_plots
from .stats import StageStats

__all__ = ["BUILD_ENTRIES", "check_output_dir", "package_versions", "rerender_card", "write"]

logger = logging.getLogger(__name__)

QUALITY_FILE = "quality.json"
RECIPE_FILE = "recipe.yaml"


#: What a build writes at the top of its folder; older builds did not record their file list.
BUILD_ENTRIES = ("README.md", QUALITY_FILE, RECIPE_FILE, "data", "images", "dropped", "review")


def _written_by_a_build(out_dir: Path) -> str | None:
    """The first entry of ``out_dir`` that no build wrote (a recipe, data, a cache, notes), or None.

    A build records its files in ``quality.json`` (``files``); for an older build without that
    list, only the names a build writes are accepted.
    """
    try:
        quality = json.loads((out_dir / QUALITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        quality = {}
    recorded = quality.get("files") if isinstance(quality, dict) else None
    if isinstance(recorded, list):
        allowed = set(recorded)
        allowed |= {str(Path(f).parent) for f in recorded if "/" in f}
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir).as_posix()
        if isinstance(recorded, list):
            if rel not in allowed:
                return rel
        elif rel.split("/")[0] not in BUILD_ENTRIES:
            return rel
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(out_dir: Path, *, overwrite: bool, protected: dict[Path, tuple[str, bool]] | None = None) -> None:
    """Fail early when ``out_dir`` may not be written or replaced.

    Args:
        out_dir: the output folder (resolved here before any check).
        overwrite: whether an earlier build there may be replaced.
        protected: paths a build must never replace or write into, with what they are and
            whether they are folders: the recipe, its inputs and input folders, the cache (a
            folder, made or not yet). The output may not contain one, nor lie inside a protected
            folder (a sibling folder beside the recipe is fine).

    Raises:
        OutputError: one line naming the cause, before anything is written.
    """
    target = out_dir.resolve()
    if _inside(Path.cwd().resolve(), target):
        raise OutputError(f"output folder {out_dir} is the folder you are in (or holds it); "
                          "build into a folder beside it")
    for path, (what, folder) in (protected or {}).items():
        path = path.resolve()
        if _inside(path, target):
            raise OutputError(f"output folder {out_dir} holds the {what} ({path}); "
                              "refusing to write there: choose a folder of its own")
        if folder and _inside(target, path):
            raise OutputError(f"output folder {out_dir} lies inside the {what} ({path}); choose a folder outside it")
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder")
    if not overwrite:
        raise OutputError(f"output folder {out_dir} exists; pass --overwrite or set output.overwrite: true")
    if any(target.iterdir()) and not (target / QUALITY_FILE).exists():
        raise OutputError(
            f"output folder {out_dir} is not an hf_ftbuilder build (no {QUALITY_FILE}); refusing to replace it"
        )
    foreign = _written_by_a_build(target)
    if foreign is not None:
        raise OutputError(f"output folder {out_dir} holds {foreign!r}, which no build wrote; "
                          "refusing to replace it (move that file out, or build elsewhere)")


#: Uncompressed bytes of a parquet row group. datasets aims at 100 MB; a third of that keeps the
#: writer's memory (the group's rows, then its encoded pages) near 100 MB instead of 300 MB; the
#: groups stay large enough to compress well and to be read a group at a time.
ROW_GROUP_BYTES = 32 * 2**20


def _arrow_bytes(path: Path) -> int:
    """The Arrow size of a parquet file's data as ``load_dataset`` will hold it, read a row group at a
    time (the whole table at once would be the split again in memory)."""
    parquet = pq.ParquetFile(path)
    return sum(parquet.read_row_group(i).nbytes for i in range(parquet.num_row_groups))


def _write_split(ds: Any, data_dir: Path, split: str, shard_rows: int) -> dict[str, int]:
    num_shards = max(1, math.ceil(ds.num_rows / shard_rows))
    num_bytes = download_size = 0
    for index in range(num_shards):
        path = data_dir / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
        group_rows = max(1, min(shard.num_rows, shard.num_rows * ROW_GROUP_BYTES // max(1, shard._estimate_nbytes())))
        shard.to_parquet(str(path), batch_size=group_rows)
        release_mapped_pages()  # the shard's rows were read from the memory-mapped table
        num_bytes += _arrow_bytes(path)
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


def package_versions() -> dict[str, str]:
    """Versions of the packages a build depends on, for the card's \"how to reproduce\"."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("hf_ftbuilder", "datasets", "huggingface_hub", "transformers", "scikit-learn", "trafilatura"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


def rerender_card(out_dir: Path, *, template: Path | None = None) -> Path:
    """Redo ``README.md`` and ``images/`` of a build from its ``quality.json``, without rebuilding.

    Raises:
        OutputError: the folder is not a build.
    """
    import datasets

    quality_path = out_dir / QUALITY_FILE
    if not quality_path.is_file():
        raise OutputError(f"{out_dir} is not an hf_ftbuilder build (no {QUALITY_FILE})")
    quality = json.loads(quality_path.read_text(encoding="utf-8"))
    if "card" not in quality:
        raise OutputError(f"{quality_path} was written by an older hf_ftbuilder; rebuild once to redo its card")
    split_info: dict[str, dict[str, int]] = {}
    features = None
    for split in quality["splits"]:
        files = sorted((out_dir / "data").glob(f"{split}-*.parquet"))
        if not files:
            raise OutputError(f"{out_dir}: no parquet files for split {split!r}")
        split_info[split] = {"num_examples": sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                             "num_bytes": sum(_arrow_bytes(f) for f in files),
                             "download_size": sum(f.stat().st_size for f in files)}
        features = features or datasets.Features.from_arrow_schema(pq.read_schema(files[0]))
    assert features is not None
    if quality.get("images"):
        shutil.rmtree(out_dir / "images", ignore_errors=True)
        quality["images"] = render_plots(quality, out_dir / "images")
    card = render_card(quality, features=features, split_info=split_info,
                       template=template_text(template) if template else None)
    tmp = out_dir / ".README.md.tmp"
    card.save(str(tmp))
    os.replace(tmp, out_dir / "README.md")
    return out_dir / "README.md"


def write(
    dd: DatasetDict,
    quality: dict[str, Any],
    *,
    out_dir: Path,
    overwrite: bool,
    output: Output,
    stages: list[StageStats],
    recipe_yaml: str,
    template: str | None = None,
    examples_per_reason: int = 3,
    plots: bool = True,
) -> dict[str, dict[str, int]]:
    """Write the build into ``out_dir``: what it is given, nothing it looks up.

    Args:
        dd: the splits to write.
        quality: the content of ``quality.json``, its ``card`` section (name, seed, versions, the
            recipe's card metadata) included; removed-row examples, plot paths and the file list
            are added here, so the card can be redone from it alone.
        out_dir: the output folder.
        overwrite: replace an earlier build at ``out_dir``.
        output: the recipe's ``output`` section (``shard_rows``, ``write_dropped``).
        stages: every stage's stats; their ``dropped_rows`` go to ``dropped/<stage>.parquet``,
            their review rows and files to ``review/``.
        recipe_yaml: the resolved recipe, written as ``recipe.yaml`` (it rebuilds the folder).
        template: the card template's text (default: the shipped one).
        examples_per_reason: removed rows shown in the card per drop reason.
        plots: draw the PNG plots (unless ``quality`` says they were left out).

    Returns:
        Per split: ``num_examples``, ``num_bytes`` and ``download_size`` as written.

    Raises:
        OutputError: the folder may not be replaced or could not be written.
    """
    out_dir = out_dir.resolve()
    check_output_dir(out_dir, overwrite=overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(out_dir, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "data").mkdir(parents=True)
        crash_point("tmp_created")
        plots = plots and "plots" not in quality.get("left_out", {})
        # The plots read only the figures: drawn in a process of their own (about a second, most
        # of it importing matplotlib) while this one writes the shards. A copy goes, as the
        # figures are sent while this process adds its keys.
        with aside(render_plots, dict(quality), tmp / "images") if plots else nullcontext() as drawn:
            split_info = {}
            for name, ds in dd.items():
                ds = ds.select_columns(schema.output_order(ds.column_names))
                split_info[name] = _write_split(ds, tmp / "data", name, output.shard_rows)
            crash_point("data_written")
            if output.write_dropped:
                for st in stages:
                    if st.dropped_rows is not None and st.dropped_rows.num_rows:
                        (tmp / "dropped").mkdir(exist_ok=True)
                        st.dropped_rows.to_parquet(str(tmp / "dropped" / f"{st.name}.parquet"))
            _write_review(tmp / "review", stages)
            quality["examples"] = _examples(stages, examples_per_reason)
            compiled = compile_template(template)  # while the plots are still being drawn
            quality["images"] = drawn.result() if drawn else {}
        # The build's own file list: --overwrite replaces a folder only when it holds nothing else.
        written = {p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()}
        quality["files"] = sorted(written | {QUALITY_FILE, "README.md", RECIPE_FILE})
        (tmp / QUALITY_FILE).write_text(json.dumps(quality, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        features = next(iter(dd.values())).select_columns(
            schema.output_order(next(iter(dd.values())).column_names)
        ).features
        card = render_card(quality, features=features, split_info=split_info, template=compiled)
        card.save(str(tmp / "README.md"))
        (tmp / RECIPE_FILE).write_text(recipe_yaml, encoding="utf-8")
        crash_point("card_written")
        replace_dir(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {out_dir}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return split_info
