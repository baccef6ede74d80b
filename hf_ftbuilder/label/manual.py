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

With several labels per row (``label.labels_per_row: many``) an answer is a set of labels: a
``labels`` field holding a list (JSONL) or a string cut at the delimiter (CSV, ``a;b``), or several
lines of one id with one ``label`` each; a Label Studio annotation's choices. The lines one
annotator (or, without an ``annotator`` column, one file) wrote about a row make one answer, and a
later file's answer of the same annotator replaces it. A label is given when more than half of the
answers about the row hold it; a label held by exactly half sends the row to review, and so do
answers that agree on no label at all.
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
from ..config import MANY_DELIMITER
from ..errors import ConfigError, SourceError
from ..readers import read_csv, read_jsonl

__all__ = [
    "DELIMITER", "FORMATS", "Annotations", "agreement", "export_tasks", "label_studio_config", "read_annotations",
    "set_agreement",
]

FORMATS = ("csv", "jsonl", "label-studio")
#: What cuts a CSV ``labels`` field into labels when the label section sets no ``label_delimiter``.
DELIMITER = MANY_DELIMITER
_FROM_NAME, _TO_NAME = "label", "text"


@dataclass
class Annotations:
    """Human labels by row id, rows whose votes tie, and counts for the report."""

    labels: dict[str, int] = field(default_factory=dict)
    sets: dict[str, list[int]] = field(default_factory=dict)  # several labels per row: the label indices
    ties: set[str] = field(default_factory=set)
    votes: int = 0
    cancelled: int = 0
    annotators: int = 0

    def summary(self, files: list[str], position: dict[str, int], model: list[Any], human: list[Any]) -> dict[str, Any]:
        """What people did, for the report: the counts, the rows of the dataset they labelled, and how
        often the model's answer (``model``, beside people's ``human`` on the same rows: labels, or
        label sets with several labels per row) was corrected or agreed with."""
        given = self.sets or self.labels
        matched = sum(1 for r in [*given, *self.ties] if r in position)
        many = bool(self.sets)
        return {
            "file": files[0] if len(files) == 1 else files, "votes": self.votes, "annotators": self.annotators,
            "cancelled": self.cancelled, "labelled_rows": len(given), "ties": len(self.ties),
            "not_in_dataset": len(given) + len(self.ties) - matched,
            "corrected_rows": sum(1 for m, h in zip(model, human) if m != h),
            "agreement": set_agreement(model, human) if many else agreement(model, human),
        }


def label_studio_config(names: list[str], *, many: bool = False) -> str:
    """A Label Studio labelling interface for these tasks: the text and one choice per label
    (several may be ticked with ``many``)."""
    choices = "\n".join(f'    <Choice value="{_xml(n)}"/>' for n in names)
    kind = "multiple" if many else "single"
    return (f'<View>\n  <Text name="{_TO_NAME}" value="$text"/>\n'
            f'  <Choices name="{_FROM_NAME}" toName="{_TO_NAME}" choice="{kind}" showInLine="true">\n'
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
    suggestions: tuple[Any, Any] | None = None,
    suggested_by: str | None = None,
    many: bool = False,
    delimiter: str | None = None,
) -> list[Path]:
    """Write annotation tasks; returns the files written (Label Studio also gets its interface XML).

    Args:
        suggestions: a model's label index and score per row (an index below 0: no suggestion for
            that row), or with ``many`` its label indices and their scores per row.
        many: several labels per row: annotators fill ``labels`` (a list in JSONL, a string cut at
            ``delimiter`` in CSV, several choices in Label Studio).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    answer = "labels" if many else "label"
    rows = []
    for k, (row_id, text) in enumerate(zip(ids, texts)):
        row: dict[str, Any] = {"id": row_id, "text": text}
        if suggestions is not None:
            if many:
                row["suggestion"] = [names[int(j)] for j in suggestions[0][k]]
                row["suggestion_score"] = [round(float(v), 4) for v in suggestions[1][k]]
            elif (j := int(suggestions[0][k])) >= 0:
                row["suggestion"] = names[j]
                row["suggestion_score"] = round(float(suggestions[1][k]), 4)
            else:
                row["suggestion"] = row["suggestion_score"] = None
        rows.append(row)
    written = [path]
    if fmt == "csv":
        cut = delimiter or DELIMITER
        out = io.StringIO()
        fields = ["id", "text", *(["suggestion", "suggestion_score"] if suggestions is not None else []), answer]
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**{key: cut.join(map(str, v)) if isinstance(v, list) else v for key, v in r.items()},
                          answer: ""} for r in rows)
        write_atomic(path, out.getvalue())
    elif fmt == "jsonl":
        write_atomic(path, "".join(json.dumps({**r, answer: None}, ensure_ascii=False) + "\n" for r in rows))
    else:
        tasks = []
        for r in rows:
            task: dict[str, Any] = {"data": {"id": r["id"], "text": r["text"]}}
            chosen = r.get("suggestion") if many else [r["suggestion"]] if r.get("suggestion") is not None else None
            if chosen:
                # Several labels: the prediction is as sure as its least sure label.
                score = min(r["suggestion_score"]) if many else r["suggestion_score"]
                task["predictions"] = [{
                    "model_version": suggested_by or "suggestion",
                    "score": score,
                    "result": [{"from_name": _FROM_NAME, "to_name": _TO_NAME, "type": "choices",
                                "value": {"choices": chosen}}],
                }]
            tasks.append(task)
        write_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        config = path.with_suffix(".xml")
        write_atomic(config, label_studio_config(names, many=many))
        written.append(config)
    return written


#: A vote: row id, the labels it names (one, or several with labels_per_row: many; none withdraws an
#: annotator's earlier vote), annotator (None: anonymous), and where it was read.
_Vote = tuple[str, tuple[str, ...], "str | None", str]


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
            chosen = [str(choice) for item in annotation.get("result") or [] if item.get("type") == "choices"
                      for choice in (item.get("value") or {}).get("choices") or []]
            if chosen:
                votes.append((str(row_id), tuple(chosen), annotator, f"{path}: task {t}"))
    return votes, cancelled


def _cell_labels(value: Any, delimiter: str | None) -> tuple[str, ...]:
    """The labels a cell names: a list's items, a string cut at ``delimiter`` (None: the whole
    string), stripped, the empty ones left out."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(delimiter) if delimiter else [value]
    return tuple(label for item in items if item is not None and (label := str(item).strip()))


def _table_votes(path: Path, delimiter: str | None) -> list[_Vote]:
    """One vote per line; with ``delimiter`` (several labels per row) a ``labels`` column is read
    in place of ``label``, cut at it."""
    jsonl = path.suffix == ".jsonl"
    table = read_jsonl(path)[0] if jsonl else read_csv(path)[0]
    columns = table.column_names
    column = "labels" if delimiter is not None and "labels" in columns else "label"
    for needed in ("id", column):
        if needed not in columns:
            why = ("; a labels column is read with labels_per_row: many" if needed == "label" and "labels" in columns
                   else "")
            raise SourceError(f"label.annotations: {path}: no {needed!r} column (columns: {', '.join(columns)}){why}")
    annotators = table.column("annotator").to_pylist() if "annotator" in columns else None
    votes: list[_Vote] = []
    for k, (row_id, value) in enumerate(zip(table.column("id").to_pylist(), table.column(column).to_pylist())):
        who = str(annotators[k]).strip() if annotators and annotators[k] is not None else None
        labels = _cell_labels(value, delimiter if column == "labels" else None)
        # The line a person finds it on: JSONL has no header; a CSV field holding a line break
        # would shift it, and annotation files hold ids and labels, not texts.
        votes.append((str(row_id), labels, who, f"{path}:{k + (1 if jsonl else 2)}"))
    return votes


def _read_votes(path: Path, delimiter: str | None) -> tuple[list[_Vote], int]:
    if not path.is_file():
        raise SourceError(f"label.annotations: {path}: file not found")
    if path.suffix != ".json":
        return _table_votes(path, delimiter), 0
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"label.annotations: {path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return _label_studio_votes(path, data)


def read_annotations(paths: Path | list[Path], names: list[str], *, many: bool = False,
                     delimiter: str | None = None) -> Annotations:
    """Read human labels and resolve several votes per row by majority.

    An annotator's latest line on a row replaces their earlier ones (a correction, not a second
    vote; an empty label withdraws it); lines without an annotator are each a vote of their own.
    Files are read in order, so a later file's decision of the same annotator wins.

    Args:
        paths: the annotation files, in order.
        names: the ClassLabel names.
        many: several labels per row: each answer is a set of labels, resolved label by label
            (:func:`_resolve_sets`), into ``Annotations.sets``.
        delimiter: with ``many``, what cuts a CSV ``labels`` field (default ``;``).

    Raises:
        SourceError: a file is missing or malformed, or a vote names a label that is not in ``names``
            (the error names the file and line).
    """
    files = [paths] if isinstance(paths, Path) else paths
    if many:
        return _resolve_sets(files, names, delimiter or DELIMITER)
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    anonymous: list[tuple[str, str, str]] = []
    cancelled = 0
    for path in files:
        votes, dropped = _read_votes(path, None)
        cancelled += dropped
        for row_id, labels, who, where in votes:
            label = labels[-1] if labels else ""  # a Label Studio answer of several choices: the last
            if who is None:
                if label:
                    anonymous.append((row_id, label, where))
                continue
            latest.pop((row_id, who), None)
            if label:
                latest[(row_id, who)] = (label, where)
    index = _index(names)
    by_row: dict[str, Counter[str]] = {}
    final = [(row_id, label, where) for (row_id, _), (label, where) in latest.items()] + anonymous
    for row_id, label, where in final:
        _known(label, index, names, row_id, where)
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


def _index(names: list[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(names)}


def _known(label: str, index: dict[str, int], names: list[str], row_id: str, where: str) -> None:
    if label not in index:
        raise SourceError(f"label.annotations: {where}: row {row_id}: label {label!r} is not one of {names}")


def _resolve_sets(files: list[Path], names: list[str], delimiter: str) -> Annotations:
    """Several labels per row: one answer (a set) per row and annotator, the latest file's; then
    per label, a majority of the row's answers gives it and exactly half sends the row to review."""
    index = _index(names)
    answers: dict[tuple[str, str], set[str]] = {}
    cancelled = 0
    for f, path in enumerate(files):
        votes, dropped = _read_votes(path, delimiter)
        cancelled += dropped
        in_file: dict[tuple[str, str], set[str]] = {}
        for row_id, labels, who, where in votes:
            for label in labels:
                _known(label, index, names, row_id, where)
            # Without an annotator, a file's lines about a row are one person's answer.
            key = (row_id, who if who is not None else f"\0anonymous:{f}")
            in_file.setdefault(key, set()).update(labels)
        for key, labels in in_file.items():
            answers.pop(key, None)
            if labels:
                answers[key] = labels
    by_row: dict[str, list[set[str]]] = {}
    for (row_id, _), labels in answers.items():
        by_row.setdefault(row_id, []).append(labels)
    people = {"(anonymous)" if who.startswith("\0") else who for _, who in answers}
    out = Annotations(votes=len(answers), cancelled=cancelled, annotators=len(people))
    for row_id, sets in by_row.items():
        counts = Counter(label for labels in sets for label in labels)
        if any(2 * c == len(sets) for c in counts.values()) or not any(2 * c > len(sets) for c in counts.values()):
            out.ties.add(row_id)
        else:
            out.sets[row_id] = sorted(index[label] for label, c in counts.items() if 2 * c > len(sets))
    return out


def set_agreement(suggested: list[list[int]], human: list[list[int]]) -> dict[str, Any]:
    """How often a model's label sets matched people's on the same rows: the share of identical
    sets and the mean Jaccard overlap."""
    if not suggested:
        return {"rows": 0}
    same = [set(s) == set(h) for s, h in zip(suggested, human)]
    overlap = [len(set(s) & set(h)) / max(len(set(s) | set(h)), 1) for s, h in zip(suggested, human)]
    return {"rows": len(same), "exact": round(sum(same) / len(same), 6), "jaccard": round(sum(overlap) / len(overlap), 6)}


def agreement(suggested: list[int], human: list[int]) -> dict[str, Any]:
    """Accuracy and Cohen's kappa of model suggestions against the human labels of the same rows."""
    if not suggested:
        return {"rows": 0}
    from sklearn.metrics import cohen_kappa_score

    s, h = np.array(suggested), np.array(human)
    kappa = float(cohen_kappa_score(h, s)) if len(set(s) | set(h)) > 1 else 1.0
    return {"rows": len(s), "accuracy": round(float((s == h).mean()), 6), "cohen_kappa": round(kappa, 6)}
