"""Manual labelling: annotation tasks out, human labels back in.

``ftbuild label export RECIPE --format csv | jsonl | label-studio`` writes one task per row (its
``id`` and ``text``, and a model's suggested label and score when ``label.suggest`` names a model
method). ``label.annotations`` reads the completed file back:

- CSV or JSONL with ``id`` and ``label`` columns (an optional ``annotator`` column; several rows
  for one id are several annotators' votes; an empty label is no vote);
- a Label Studio JSON export: a list of tasks, each with ``data`` (holding our ``id``) and
  ``annotations``, whose ``result`` items of type ``choices`` carry ``value.choices``. Cancelled
  annotations (``was_cancelled``) do not vote.

Several votes for one row are resolved by majority; a tie sends the row to review. Human labels
override any model label.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_file import write_atomic
from ..errors import ConfigError, SourceError
from ..readers import read_csv, read_jsonl

__all__ = ["FORMATS", "Annotations", "agreement", "export_tasks", "label_studio_config", "read_annotations"]

FORMATS = ("csv", "jsonl", "label-studio")
_FROM_NAME, _TO_NAME = "label", "text"


@dataclass
class Annotations:
    """Human labels by row id, rows whose votes tie, and counts for the report."""

    labels: dict[str, int] = field(default_factory=dict)
    ties: set[str] = field(default_factory=set)
    votes: int = 0
    cancelled: int = 0
    annotators: int = 0


def label_studio_config(names: list[str]) -> str:
    """A Label Studio labelling interface for these tasks: the text and one choice per label."""
    choices = "\n".join(f'    <Choice value="{_xml(n)}"/>' for n in names)
    return (f'<View>\n  <Text name="{_TO_NAME}" value="$text"/>\n'
            f'  <Choices name="{_FROM_NAME}" toName="{_TO_NAME}" choice="single" showInLine="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def export_tasks(
    path: Path,
    fmt: str,
    *,
    ids: list[str],
    texts: list[str],
    names: list[str],
    suggestions: tuple[np.ndarray, np.ndarray] | None = None,
    suggested_by: str | None = None,
) -> list[Path]:
    """Write annotation tasks; returns the files written (Label Studio also gets its interface XML)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    rows = []
    for k, (row_id, text) in enumerate(zip(ids, texts)):
        row: dict[str, Any] = {"id": row_id, "text": text}
        if suggestions is not None:
            row["suggestion"] = names[int(suggestions[0][k])]
            row["suggestion_score"] = round(float(suggestions[1][k]), 4)
        rows.append(row)
    written = [path]
    if fmt == "csv":
        out = io.StringIO()
        fields = ["id", "text", *(["suggestion", "suggestion_score"] if suggestions is not None else []), "label"]
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "label": ""} for r in rows)
        write_atomic(path, out.getvalue())
    elif fmt == "jsonl":
        write_atomic(path, "".join(json.dumps({**r, "label": None}, ensure_ascii=False) + "\n" for r in rows))
    else:
        tasks = []
        for r in rows:
            task: dict[str, Any] = {"data": {"id": r["id"], "text": r["text"]}}
            if suggestions is not None:
                task["predictions"] = [{
                    "model_version": suggested_by or "suggestion",
                    "score": r["suggestion_score"],
                    "result": [{"from_name": _FROM_NAME, "to_name": _TO_NAME, "type": "choices",
                                "value": {"choices": [r["suggestion"]]}}],
                }]
            tasks.append(task)
        write_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        config = path.with_suffix(".xml")
        write_atomic(config, label_studio_config(names))
        written.append(config)
    return written


#: A vote: row id, label, annotator (None: anonymous, each line its own vote), and where it was read.
_Vote = tuple[str, str, "str | None", str]


def _label_studio_votes(path: Path, data: Any) -> tuple[list[_Vote], int]:
    if not isinstance(data, list):
        raise SourceError(f"label.annotations: {path}: a Label Studio export is a JSON list of tasks")
    votes: list[_Vote] = []
    cancelled = 0
    for t, task in enumerate(data):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise SourceError(f"label.annotations: {path}: task {t} has no data object")
        row_id = task["data"].get("id")
        if row_id is None:
            raise SourceError(f"label.annotations: {path}: task {t} has no data.id (the row id the export wrote)")
        for a, annotation in enumerate(task.get("annotations") or []):
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            annotator = str(annotation.get("completed_by", a))
            for item in annotation.get("result") or []:
                if item.get("type") == "choices":
                    for choice in (item.get("value") or {}).get("choices") or []:
                        votes.append((str(row_id), str(choice), annotator, f"{path}: task {t}"))
    return votes, cancelled


def _table_votes(path: Path) -> list[_Vote]:
    jsonl = path.suffix == ".jsonl"
    table = read_jsonl(path)[0] if jsonl else read_csv(path)[0]
    for column in ("id", "label"):
        if column not in table.column_names:
            raise SourceError(f"label.annotations: {path}: no {column!r} column (columns: {', '.join(table.column_names)})")
    annotators = table.column("annotator").to_pylist() if "annotator" in table.column_names else None
    votes: list[_Vote] = []
    for k, (row_id, label) in enumerate(zip(table.column("id").to_pylist(), table.column("label").to_pylist())):
        who = str(annotators[k]).strip() if annotators and annotators[k] is not None else None
        # The line a person finds it on: JSONL has no header; a CSV field holding a line break
        # would shift it, and annotation files hold ids and labels, not texts.
        votes.append((str(row_id), "" if label is None else str(label).strip(), who, f"{path}:{k + (1 if jsonl else 2)}"))
    return votes


def _read_votes(path: Path) -> tuple[list[_Vote], int]:
    if not path.is_file():
        raise SourceError(f"label.annotations: {path}: file not found")
    if path.suffix != ".json":
        return _table_votes(path), 0
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"label.annotations: {path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return _label_studio_votes(path, data)


def read_annotations(paths: Path | list[Path], names: list[str]) -> Annotations:
    """Read human labels and resolve several votes per row by majority.

    An annotator's latest line on a row replaces their earlier ones (a correction, not a second
    vote; an empty label withdraws it); lines without an annotator are each a vote of their own.
    Files are read in order, so a later file's decision of the same annotator wins.

    Raises:
        SourceError: a file is missing or malformed, or a vote names a label that is not in ``names``
            (the error names the file and line).
    """
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    anonymous: list[tuple[str, str, str]] = []
    cancelled = 0
    for path in [paths] if isinstance(paths, Path) else paths:
        votes, dropped = _read_votes(path)
        cancelled += dropped
        for row_id, label, who, where in votes:
            if who is None:
                if label:
                    anonymous.append((row_id, label, where))
                continue
            latest.pop((row_id, who), None)
            if label:
                latest[(row_id, who)] = (label, where)
    index = {n: i for i, n in enumerate(names)}
    by_row: dict[str, Counter[str]] = {}
    final = [(row_id, label, where) for (row_id, _), (label, where) in latest.items()] + anonymous
    for row_id, label, where in final:
        if label not in index:
            raise SourceError(f"label.annotations: {where}: row {row_id}: label {label!r} is not one of {names}")
        by_row.setdefault(row_id, Counter())[label] += 1
    people = {who for _, who in latest} | ({"(anonymous)"} if anonymous else set())
    out = Annotations(votes=len(final), cancelled=cancelled, annotators=len(people))
    for row_id, counts in by_row.items():
        ranked = counts.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            out.ties.add(row_id)
        else:
            out.labels[row_id] = index[ranked[0][0]]
    return out


def agreement(suggested: list[int], human: list[int]) -> dict[str, Any]:
    """Accuracy and Cohen's kappa of model suggestions against the human labels of the same rows."""
    if not suggested:
        return {"rows": 0}
    from sklearn.metrics import cohen_kappa_score

    s, h = np.array(suggested), np.array(human)
    kappa = float(cohen_kappa_score(h, s)) if len(set(s) | set(h)) > 1 else 1.0
    return {"rows": len(s), "accuracy": round(float((s == h).mean()), 6), "cohen_kappa": round(kappa, 6)}
