"""The files in which people's decisions live, beside the recipe: the whole state of the human loop.

- Human labels: a CSV with ``id,label,annotator,time`` (the shape ``label.annotations`` reads). One
  line per row and annotator: an annotator's latest decision on a row replaces their earlier one (a
  correction is not a second vote); an empty label withdraws it. With several labels per row the
  column is ``labels``, holding the row's labels joined by the label delimiter (``a;b``).
- Cluster names: the ``cluster_names`` mapping ``cluster id -> label name | drop`` (YAML).

Both are rewritten whole and atomically the moment a decision is made (a temp file in the same
folder, flushed to disk, then renamed over the old one), so a process killed at any instant leaves
either the previous file or the new one, never a torn line. Files of people's decisions are small
(one line per decision), so rewriting them whole costs a millisecond or two.

The review page (:mod:`hf_ftbuilder.review`) writes these files, the label stage reads them; this
module is the ground floor both stand on.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .atomic_file import write_atomic

__all__ = ["DROP", "FIELDS", "LabelDecisions", "fields", "read_cluster_mapping", "write_cluster_names"]

#: The columns of a human-labels file the review page writes (``labels`` in place of ``label`` with
#: several labels per row).
FIELDS = ("id", "label", "annotator", "time")


def fields(column: str = "label") -> tuple[str, ...]:
    """The columns of a human-labels file whose answers are in ``column`` (``label`` or ``labels``)."""
    return (FIELDS[0], column, *FIELDS[2:])

#: The cluster name that leaves a cluster's rows out of the dataset.
DROP = "drop"

#: Larger decision files are not read: a person's decisions are thousands of lines, not gigabytes.
MAX_DECISION_BYTES = 64 * 1024 * 1024


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bounded_text(path: Path, what: str) -> str:
    size = path.stat().st_size
    if size > MAX_DECISION_BYTES:
        raise ValueError(f"{what}: {path}: {size:,} bytes, more than a decision file holds "
                         f"({MAX_DECISION_BYTES:,}); is it the right file?")
    return path.read_text(encoding="utf-8")


class LabelDecisions:
    """One human-labels CSV: the latest label per (row id, annotator), in the order first decided.

    Args:
        path: the CSV (created on the first decision).
        column: where the answer goes: ``label``, or ``labels`` (several labels, joined).

    Raises:
        ValueError: the file exists but is not a human-labels CSV (no ``id`` or answer column).
    """

    def __init__(self, path: Path, column: str = "label") -> None:
        self.path = path
        self.column = column
        self._rows: dict[tuple[str, str], tuple[str, str]] = {}
        if path.is_file():
            self._read()

    def _read(self) -> None:
        reader = csv.DictReader(io.StringIO(_bounded_text(self.path, "annotations")))
        missing = [c for c in ("id", self.column) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"annotations: {self.path}: no {missing[0]!r} column (found {reader.fieldnames})")
        for line in reader:
            row_id, label = (line.get("id") or "").strip(), (line.get(self.column) or "").strip()
            key = (row_id, (line.get("annotator") or "").strip())
            self._rows.pop(key, None)  # the latest line of an annotator on a row is their decision
            if row_id and label:
                self._rows[key] = (label, (line.get("time") or "").strip())

    def get(self, row_id: str, annotator: str) -> str | None:
        """The annotator's label for the row, or None."""
        found = self._rows.get((row_id, annotator))
        return found[0] if found else None

    def by(self, annotator: str) -> dict[str, str]:
        """Every row the annotator labelled: row id -> label."""
        return {row_id: label for (row_id, who), (label, _) in self._rows.items() if who == annotator}

    def __len__(self) -> int:
        return len(self._rows)

    def set(self, row_id: str, annotator: str, label: str | None) -> None:
        """Record (or, with None, withdraw) the annotator's label for a row, on disk before returning."""
        key = (row_id, annotator)
        self._rows.pop(key, None)
        if label is not None:
            self._rows[key] = (label, _now())
        self.save()

    def save(self) -> None:
        """Write the file as it stands (with only its header while nobody has decided)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields(self.column))
        writer.writerows((rid, lab, who, at) for (rid, who), (lab, at) in self._rows.items())
        write_atomic(self.path, out.getvalue())


def read_cluster_mapping(path: Path) -> dict[int, str]:
    """A cluster-names file as it stands (possibly naming only some clusters).

    Accepts the plain mapping (``3: sport``) and the build's ``review/clusters.yaml`` shape
    (``3: {name: sport, ...}``); clusters without a name are left out.

    Raises:
        ValueError: not YAML, or not a mapping of cluster ids.
    """
    try:
        data = yaml.safe_load(_bounded_text(path, "cluster_names")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"cluster_names: {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"cluster_names: {path}: expected a mapping of cluster id to label name")
    out: dict[int, str] = {}
    for key, value in data.items():
        try:
            cluster = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"cluster_names: {path}: {key!r} is not a cluster id") from None
        name = value.get("name") if isinstance(value, dict) else value
        if name is not None and str(name).strip():
            out[cluster] = str(name).strip()
    return out


def write_cluster_names(path: Path, names: dict[int, str]) -> None:
    """Write the mapping ``cluster id -> name`` (sorted by id), atomically."""
    header = ("# Cluster names: a label name, or drop to leave the cluster's rows out.\n"
              "# Written by `ftbuild review`; label.cluster_names points here; the next build applies it.\n")
    body = yaml.safe_dump({int(c): names[c] for c in sorted(names)}, sort_keys=False, allow_unicode=True)
    write_atomic(path, header + (body if names else "{}\n"))
