"""The ``hf`` source: a dataset saved with ``save_to_disk``, a local data folder, or a Hub id."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, load_dataset, load_from_disk

from ..errors import SourceError

__all__ = ["read_hf", "decode_class_labels"]


def decode_class_labels(table: pa.Table, features: dict) -> pa.Table:
    """Replace ClassLabel integer columns by their names, so labels join across sources."""
    for name, feature in features.items():
        if isinstance(feature, ClassLabel) and name in table.column_names:
            names = feature.names
            values = [None if v is None else names[v] for v in table.column(name).to_pylist()]
            table = table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))
    return table


def _folder_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_hf(path: Path | str, *, split: str, local: bool) -> tuple[pa.Table, str]:
    """Read one split of a saved or Hub dataset.

    Args:
        path: a folder (``save_to_disk`` output or a folder of data files) or a Hub dataset id.
        split: the split to read.
        local: whether ``path`` is a local folder (its files are hashed for the fingerprint).

    Returns:
        The split as an Arrow table with ClassLabel columns decoded to names, and a digest.
    """
    try:
        if local and ((Path(path) / "dataset_dict.json").exists() or (Path(path) / "state.json").exists()):
            loaded = load_from_disk(str(path))
        else:
            loaded = load_dataset(str(path)) if split == "all" else load_dataset(str(path), split=split)
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: no dataset found ({exc})") from None
    except ValueError as exc:
        raise SourceError(f"{path}: cannot load split {split!r} ({str(exc).splitlines()[0]})") from None
    if split == "all" and not isinstance(loaded, DatasetDict):
        loaded = DatasetDict({"all": loaded})
    if isinstance(loaded, DatasetDict):
        if split == "all":
            from datasets import concatenate_datasets

            loaded = concatenate_datasets(list(loaded.values()))
        elif split not in loaded:
            raise SourceError(f"{path}: no split {split!r} (splits: {', '.join(loaded)})")
        else:
            loaded = loaded[split]
    assert isinstance(loaded, Dataset)
    table = loaded.flatten_indices().data.table
    table = decode_class_labels(table, loaded.features)
    digest = _folder_digest(Path(path)) if local else f"hub:{path}"
    return table, digest
