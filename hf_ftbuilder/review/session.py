"""What the review page shows and records: the queues of a build, and the person's decisions.

A :class:`ReviewSession` reads the latest build of a recipe (its ``review/`` and ``dropped/`` files
and ``quality.json``) into queues, and writes each decision at once to the decision files beside
the recipe (:mod:`hf_ftbuilder.decisions`). It holds no state a kill could lose: the queues come
from the build, the decisions from the files. It knows nothing of HTTP (:mod:`.app` does).
"""

from __future__ import annotations

import getpass
import json
import logging
import random
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from .. import schema
from ..config import MANY_DELIMITER, KMeansLabel, Recipe, annotation_files, load_config
from ..decisions import DROP, LabelDecisions, fields, read_cluster_mapping, write_cluster_names
from ..errors import ReviewError

__all__ = ["QUEUES", "ReviewSession"]

logger = logging.getLogger(__name__)

#: The queues, in the order the page shows them: key -> (title, read-only).
QUEUES = {
    "ask": ("Asked", False),
    "clusters": ("Clusters", False),
    "rows": ("Rows to label", False),
    "duplicates": ("Duplicates", True),
    "leakage": ("Leakage", True),
}

#: Queues whose items are rows a person labels (decisions go to the human-labels file).
ROW_QUEUES = ("ask", "rows")
#: Review files whose rows wait for a label, and the label-noise flags.
_ROW_FILES = ("low_confidence", "annotation_tie", "not_annotated")
_ISSUES = "label_issues"

_SAMPLE = 5  # random members shown per cluster, beside the texts nearest the centroid
_MAX_LABEL = 100  # characters in a label name
_LOG_LINES = 2000  # rebuild output kept for the page


@dataclass
class _Queue:
    key: str
    items: list[dict[str, Any]]
    index: dict[str, int] = field(default_factory=dict)
    filtered: tuple[str, list[int]] | None = None  # the last filter and the positions it kept
    haystack: list[str] | None = None  # each item's searchable text, lower-cased, made on the first filter

    def __post_init__(self) -> None:
        self.index = {item["id"]: k for k, item in enumerate(self.items)}


def _read(path: Path, columns: list[str] | None = None) -> pa.Table | None:
    if not path.is_file():
        return None
    available = pq.read_schema(path).names
    return pq.read_table(path, columns=[c for c in columns if c in available] if columns else None)


def _texts_of(out: Path, ids: set[str]) -> dict[str, str]:
    """The text of each of ``ids`` wherever it is in the build (the splits or the dropped rows)."""
    found: dict[str, str] = {}
    if not ids:
        return found
    wanted = pa.array(sorted(ids), type=pa.string())
    for file in sorted((out / "data").glob("*.parquet")) + sorted((out / "dropped").glob("*.parquet")):
        table = _read(file, [schema.ID, schema.TEXT])
        if table is None or schema.TEXT not in table.column_names:
            continue
        hit = table.filter(pc.is_in(table[schema.ID], value_set=wanted))
        found.update(zip(hit[schema.ID].to_pylist(), hit[schema.TEXT].to_pylist()))
    return found


class ReviewSession:
    """The review of one recipe's latest build by one annotator.

    Args:
        recipe: the recipe's path.
        output_dir: the build folder (default: the recipe's ``output.dir`` or ``build/<name>``).
        annotator: who decides (default: the OS user).

    Raises:
        ConfigError: the recipe does not load.
        ReviewError: the recipe was never built there, or the folder is not a build.
    """

    def __init__(self, recipe: str | Path, output_dir: str | Path | None = None, annotator: str | None = None) -> None:
        self.recipe_path = Path(recipe)
        self.recipe: Recipe = load_config(self.recipe_path)
        label = self.recipe.label
        # Several labels per row: a decision is a set of labels, kept joined by the delimiter.
        self.many = label is not None and label.labels_per_row == "many"
        self.delimiter = (label.label_delimiter if label is not None else None) or MANY_DELIMITER
        self.out = Path(output_dir) if output_dir is not None else self.recipe.output_dir()
        self.annotator = (annotator or getpass.getuser() or "annotator").strip()
        self.base = self.recipe.base_dir
        self.lock = threading.RLock()
        self.labels_file, self.clusters_file = self._decision_paths()
        self.decisions = LabelDecisions(self.labels_file, "labels" if self.many else "label")
        self.cluster_names: dict[int, str] = (
            read_cluster_mapping(self.clusters_file) if self.clusters_file and self.clusters_file.is_file() else {}
        )
        self._undo: list[tuple[str, str, str | list[str] | None]] = []
        self.rebuild = _Rebuild()
        self.load()
        if annotation_files(self.recipe.label) is not None and not self.labels_file.exists():
            self.decisions.save()  # so the recipe line the page asks for is valid before the first decision

    # The build -------------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)read the queues from the build folder."""
        quality_path = self.out / "quality.json"
        if not self.out.is_dir():
            raise ReviewError(f"review: no build at {self.out}; run `ftbuild build {self.recipe_path}` first")
        if not quality_path.is_file():
            raise ReviewError(f"review: {self.out} is not a build (no quality.json); "
                              "give --output the folder `ftbuild build` wrote")
        try:
            quality = json.loads(quality_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReviewError(f"review: {quality_path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(quality, dict) or "files" not in quality:
            raise ReviewError(f"review: {self.out} is not a build (quality.json lists no files)")
        with self.lock:
            self.quality = quality
            self.names: list[str] = list((quality.get("labels") or {}).get("names") or [])
            self.queues = {
                "ask": _Queue("ask", self._asked()),
                "clusters": _Queue("clusters", self._clusters()),
                "rows": _Queue("rows", self._rows()),
                "duplicates": _Queue("duplicates", self._duplicates()),
                "leakage": _Queue("leakage", self._leaks()),
            }

    @property
    def title(self) -> str:
        return f"Review: {self.recipe.name}"

    @property
    def kmeans(self) -> bool:
        return isinstance(self.recipe.label, KMeansLabel)

    def _clusters_unnamed(self) -> bool:
        return self.kmeans and all(n.startswith("cluster_") for n in self.names)

    def labels(self) -> list[str]:
        """The label names a person picks from, in order."""
        label = self.recipe.label
        if label is not None and label.labels:
            return list(label.labels)
        if self.kmeans:
            named = [n for c, n in sorted(self.cluster_names.items()) if n != DROP]
            return list(dict.fromkeys(named))
        return list(self.names)

    def _clusters(self) -> list[dict[str, Any]]:
        path = self.out / "review" / "clusters.yaml"
        if not self.kmeans or not path.is_file():
            return []
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        members: dict[int, list[str]] = {}
        for file in sorted((self.out / "data").glob("*.parquet")) + [self.out / "dropped" / "label.parquet"]:
            table = _read(file, [schema.ID, schema.LABEL_SOURCE])
            if table is None:
                continue
            for row_id, source in zip(table[schema.ID].to_pylist(), table[schema.LABEL_SOURCE].to_pylist()):
                if source and source.startswith("cluster:"):
                    members.setdefault(int(source.split(":")[1]), []).append(row_id)
        rng = random.Random(self.recipe.seed)
        sampled = {c: rng.sample(sorted(ids), min(_SAMPLE, len(ids))) for c, ids in sorted(members.items())}
        texts = _texts_of(self.out, {i for ids in sampled.values() for i in ids})
        items = []
        for cluster, entry in sorted(entries.items()):
            items.append({
                "id": str(cluster), "cluster": int(cluster), "size": int(entry.get("size", 0)),
                "terms": list(entry.get("terms") or []), "nearest": list(entry.get("examples") or []),
                "sample": [{"id": i, "text": texts.get(i, "")} for i in sampled.get(int(cluster), [])],
                "built_name": entry.get("name"),
                # A name that people's labels of the cluster's rows agree on, to accept with a key.
                "proposed": entry.get("proposed"), "proposed_by": entry.get("proposed_by"),
            })
        return items

    def _rows(self) -> list[dict[str, Any]]:
        if self._clusters_unnamed():
            return []  # the labels are cluster ids until the clusters are named and the build rerun
        if self.many:
            return self._row_sets()
        items: list[dict[str, Any]] = []
        names = self.names
        for reason in _ROW_FILES:
            table = _read(self.out / "review" / f"{reason}.parquet",
                          [schema.ID, schema.TEXT, schema.LABEL, schema.LABEL_SCORE, schema.LABEL_SOURCE])
            if table is None:
                continue
            labels = table[schema.LABEL].to_pylist() if schema.LABEL in table.column_names else [None] * table.num_rows
            scores = (table[schema.LABEL_SCORE].to_pylist() if schema.LABEL_SCORE in table.column_names
                      else [None] * table.num_rows)
            for row_id, text, label, score in zip(table[schema.ID].to_pylist(), table[schema.TEXT].to_pylist(),
                                                  labels, scores):
                suggestion = names[label] if label is not None and 0 <= label < len(names) else None
                items.append({"id": row_id, "text": text, "reason": reason, "given": None,
                              "suggestion": suggestion, "score": score})
        table = _read(self.out / "review" / f"{_ISSUES}.parquet",
                      [schema.ID, schema.TEXT, "given_label", "likely_label", "issue_score"])
        if table is not None:
            for r in table.to_pylist():
                items.append({"id": r[schema.ID], "text": r[schema.TEXT], "reason": "label_issue",
                              "given": r.get("given_label"), "suggestion": r.get("likely_label"),
                              "score": r.get("issue_score")})
        seen: set[str] = set()
        return [i for i in items if not (i["id"] in seen or seen.add(i["id"]))]

    def _row_sets(self) -> list[dict[str, Any]]:
        """Several labels per row: the rows waiting for a person (with the model's labels as the
        suggestion), then each label the noise estimate doubts, as the row's labels with it flipped."""
        items: list[dict[str, Any]] = []
        names = self.names

        def named(indices: list[int] | None) -> list[str]:
            return [names[i] for i in indices or [] if 0 <= i < len(names)]

        for reason in (*_ROW_FILES, "no_label"):
            table = _read(self.out / "review" / f"{reason}.parquet",
                          [schema.ID, schema.TEXT, schema.LABELS, schema.LABEL_SCORE])
            if table is None:
                continue
            for r in table.to_pylist():
                scores = [s for s in r.get(schema.LABEL_SCORE) or [] if s is not None]
                # Rows nobody annotated had no model to suggest a set; a model's empty set is "none".
                suggestion = None if reason == "not_annotated" else named(r.get(schema.LABELS))
                items.append({"id": r[schema.ID], "text": r[schema.TEXT], "reason": reason, "given": None,
                              "suggestion": suggestion, "score": min(scores) if scores else None})
        table = _read(self.out / "review" / f"{_ISSUES}.parquet",
                      [schema.ID, schema.TEXT, schema.LABELS, "label_in_doubt", "issue_score"])
        if table is not None:
            for r in table.to_pylist():
                given = named(r.get(schema.LABELS))
                doubt = r.get("label_in_doubt")
                flipped = [n for n in names if (n in given) != (n == doubt)]
                items.append({"id": r[schema.ID], "text": r[schema.TEXT], "reason": "label_issue", "given": given,
                              "suggestion": flipped, "score": r.get("issue_score"), "doubt": doubt})
        seen: set[str] = set()
        return [i for i in items if not (i["id"] in seen or seen.add(i["id"]))]

    def _asked(self) -> list[dict[str, Any]]:
        """The rows the build asks a person about (``label.ask``): in the dataset, with the model's label."""
        table = _read(self.out / "review" / "ask.parquet", [schema.ID, schema.TEXT, "suggested_label",
                                                             schema.LABEL_SCORE, "why"])
        if table is None:
            return []
        return [{"id": r[schema.ID], "text": r[schema.TEXT], "reason": "ask", "why": r["why"],
                 "given": r["suggested_label"], "suggestion": r["suggested_label"], "score": r[schema.LABEL_SCORE]}
                for r in table.to_pylist()]

    def _duplicates(self) -> list[dict[str, Any]]:
        table = _read(self.out / "dropped" / "dedup.parquet",
                      [schema.ID, schema.TEXT, schema.DUP_OF, schema.SIMILARITY, schema.DROP_REASON])
        if table is None or schema.DUP_OF not in table.column_names:
            return []
        rows = [r for r in table.to_pylist() if r[schema.DROP_REASON] == "near_duplicate"]
        kept = _texts_of(self.out, {r[schema.DUP_OF] for r in rows if r[schema.DUP_OF]})
        return [{"id": r[schema.ID], "text": r[schema.TEXT], "other_id": r[schema.DUP_OF],
                 "other_text": kept.get(r[schema.DUP_OF], ""), "similarity": r.get(schema.SIMILARITY),
                 "kind": "near_duplicate"} for r in rows]

    def _leaks(self) -> list[dict[str, Any]]:
        leakage = self.quality.get("leakage") or {}
        examples = [(split, e) for split, entry in (leakage.get("splits") or {}).items()
                    for e in entry.get("examples") or []]
        texts = _texts_of(self.out, {e["id"] for _, e in examples} | {e["train_id"] for _, e in examples})
        return [{"id": e["id"], "text": texts.get(e["id"], ""), "other_id": e["train_id"],
                 "other_text": texts.get(e["train_id"], ""), "similarity": e.get("similarity"),
                 "kind": f"{split}: {e.get('kind')}"} for split, e in examples]

    # Decisions -------------------------------------------------------------------------------

    def _decision_paths(self) -> tuple[Path, Path | None]:
        """The human-labels CSV and the cluster-names file this page writes (beside the recipe).

        The recipe's own files when it names them (the first annotations CSV in the page's shape,
        or one that does not exist yet), else ``<recipe>.annotations.csv`` and ``<recipe>.clusters.yaml``.
        """
        label = self.recipe.label
        stem = self.recipe_path.stem
        chosen = self.base / f"{stem}.annotations.csv"
        column = "labels" if self.many else "label"
        for name in annotation_files(label) or []:
            path = self.base / name
            if path.suffix == ".csv" and (not path.is_file() or _is_decision_csv(path, column)):
                chosen = path
                break
        clusters = None
        if isinstance(label, KMeansLabel):
            clusters = self.base / label.cluster_names if label.cluster_names else self.base / f"{stem}.clusters.yaml"
        return chosen, clusters

    def notes(self) -> list[str]:
        """The lines to add to the recipe so that the next build reads the decision files (none once it does)."""
        label = self.recipe.label
        notes = []
        files = annotation_files(label)
        if files is not None:
            mine = self.labels_file.relative_to(self.base).as_posix()
            if mine not in files:
                value = mine if not files else "[" + ", ".join([*files, mine]) + "]"
                notes.append(f"add to the recipe's label section: `annotations: {value}` (the human labels)")
        if isinstance(label, KMeansLabel) and not label.cluster_names and self.clusters_file is not None:
            mine = self.clusters_file.relative_to(self.base).as_posix()
            notes.append(f"add to the recipe's label section: `cluster_names: {mine}` (the cluster names)")
        return notes

    def decision(self, queue: str, item: dict[str, Any]) -> str | None:
        if queue == "clusters":
            return self.cluster_names.get(item["cluster"]) or item.get("built_name")
        if queue in ROW_QUEUES:
            found = self.decisions.get(item["id"], self.annotator)
            return found.split(self.delimiter) if self.many and found is not None else found
        return None

    def progress(self, queue: str) -> tuple[int, int]:
        """(decided, total) of a queue; counted over the decisions (few), not the rows (maybe 100,000)."""
        with self.lock:
            q = self.queues[queue]
            if queue in ROW_QUEUES:
                return sum(1 for row_id in self.decisions.by(self.annotator) if row_id in q.index), len(q.items)
            if queue == "clusters":
                return sum(1 for item in q.items if self.decision(queue, item) is not None), len(q.items)
            return 0, len(q.items)

    def decide(self, queue: str, row_id: str, label: str | list[str] | None, *, undoable: bool = True) -> str | None:
        """Record a decision on disk; returns a note for the person (a label the recipe lacks), or None.

        With several labels per row a row's decision is the list of its labels (an empty list
        withdraws it, like None).

        Raises:
            KeyError: no such queue or item.
            ValueError: the label is not one the person can give here.
        """
        with self.lock:
            if queue != "clusters" and queue not in ROW_QUEUES:
                raise KeyError(f"{queue} is read-only")
            item = self.queues[queue].items[self.queues[queue].index[row_id]]
            if self.many and queue in ROW_QUEUES:
                label = self._label_set(label)
                note = None
            else:
                if isinstance(label, list):
                    raise ValueError("a decision here is one label, not a list")
                label = None if label is None else " ".join(str(label).split())
                note = self._check(queue, label)
            previous = self.decision(queue, item) if queue in ROW_QUEUES else self.cluster_names.get(item["cluster"])
            if queue in ROW_QUEUES:
                stored = self.delimiter.join(label) if isinstance(label, list) else label
                self.decisions.set(row_id, self.annotator, stored)
            else:
                if label is None:
                    self.cluster_names.pop(item["cluster"], None)
                else:
                    self.cluster_names[item["cluster"]] = label
                assert self.clusters_file is not None
                write_cluster_names(self.clusters_file, self.cluster_names)
            if undoable:
                self._undo.append((queue, row_id, previous))
            logger.info("review: %s %s -> %s", queue, row_id, label)
            return note

    def _label_set(self, labels: str | list[str] | None) -> list[str] | None:
        """Several labels per row: the labels given, each known, in the recipe's order (None: none)."""
        if labels is None:
            return None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError("a decision here is a list of labels")
        known = self.labels()
        unknown = [x for x in labels if x not in known]
        if unknown:
            raise ValueError(f"label {unknown[0]!r} is not one of {known}")
        chosen = [name for name in known if name in labels]
        return chosen or None

    def _check(self, queue: str, label: str | None) -> str | None:
        if label is None:
            return None
        if not label or len(label) > _MAX_LABEL:
            raise ValueError(f"a label is 1 to {_MAX_LABEL} characters; got {len(label)}")
        known = self.labels()
        if queue in ROW_QUEUES:
            if label not in known:
                raise ValueError(f"label {label!r} is not one of {known}")
            return None
        if label == DROP or label in known:
            return None
        if re.search(r"[\x00-\x1f]", label):
            raise ValueError("a label name cannot hold control characters")
        label_cfg = self.recipe.label
        if label_cfg is not None and label_cfg.labels:
            names = ", ".join([*label_cfg.labels, label])
            return f"{label!r} is a new label: set the recipe's label.labels to [{names}] before rebuilding"
        return None

    def undo(self) -> tuple[str, str, str | list[str] | None] | None:
        """Take back the last decision made here: (queue, id, the decision now), or None."""
        with self.lock:
            if not self._undo:
                return None
            queue, row_id, previous = self._undo.pop()
            self.decide(queue, row_id, previous, undoable=False)
            return queue, row_id, previous

    # Reading the queues ------------------------------------------------------------------------

    def page(self, queue: str, offset: int, limit: int, query: str = "") -> tuple[int, list[dict[str, Any]]]:
        """(total after the filter, the items of one page with their decisions)."""
        with self.lock:
            q = self.queues[queue]
            positions = self._filter(q, query.strip().lower())
            picked = positions[offset: offset + limit] if positions is not None else range(offset, min(offset + limit, len(q.items)))
            items = []
            for k in picked:
                item = {key: value for key, value in q.items[k].items() if key != "built_name"}
                if not QUEUES[queue][1]:
                    item["decision"] = self.decision(queue, q.items[k])
                items.append(item)
            return (len(positions) if positions is not None else len(q.items)), items

    @staticmethod
    def _filter(q: _Queue, query: str) -> list[int] | None:
        if not query:
            return None
        if q.haystack is None:
            q.haystack = [_searchable(item) for item in q.items]
        if q.filtered is None or q.filtered[0] != query:
            q.filtered = (query, [k for k, hay in enumerate(q.haystack) if query in hay])
        return q.filtered[1]

    def state(self) -> dict[str, Any]:
        with self.lock:
            queues = []
            for key, (title, readonly) in QUEUES.items():
                if (key == "clusters" and not self.kmeans) or (key == "ask" and not self.queues["ask"].items):
                    continue
                done, count = self.progress(key)
                queues.append({"key": key, "title": title, "count": count, "done": done, "readonly": readonly})
            first = next((q["key"] for q in queues if not q["readonly"] and q["done"] < q["count"]),
                         next((q["key"] for q in queues if q["count"]), queues[0]["key"]))
            return {
                "title": self.title, "recipe": str(self.recipe_path), "output": str(self.out),
                "annotator": self.annotator, "labels": self.labels(), "many": self.many,
                "method": self.recipe.label.method
                if self.recipe.label else None, "queues": queues, "first": first, "notes": self.notes(),
            }

    def start_rebuild(self) -> bool:
        """Run the build in a separate process; False when one is running already."""
        cmd = [sys.executable, "-m", "hf_ftbuilder", "build", str(self.recipe_path), "--output", str(self.out),
               "--overwrite"]
        return self.rebuild.start(cmd, on_success=self._reload_after_build)

    def _reload_after_build(self) -> None:
        self.recipe = load_config(self.recipe_path)  # the person may have added the lines the page asked for
        self.load()


def _searchable(item: dict[str, Any]) -> str:
    parts = [item.get("text"), item.get("other_text"), item["id"], *item.get("terms", [])]
    parts += [e["text"] for e in item.get("nearest", [])]
    return "\n".join(p for p in parts if p).lower()


def _is_decision_csv(path: Path, column: str) -> bool:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.readline().strip().split(",")[:4] == list(fields(column))


class _Rebuild:
    """One build at a time in a child process; its output lines as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.exit_code: int | None = None
        self.running = False
        self._lock = threading.Lock()

    def start(self, cmd: list[str], on_success: Any) -> bool:
        with self._lock:
            if self.running:
                return False
            self.running, self.exit_code, self.lines = True, None, []
        thread = threading.Thread(target=self._run, args=(cmd, on_success), daemon=True, name="ftbuild-rebuild")
        thread.start()
        return True

    def _run(self, cmd: list[str], on_success: Any) -> None:
        code = -1
        try:
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                  encoding="utf-8", errors="replace") as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    with self._lock:
                        self.lines = (self.lines + [line.rstrip("\n")])[-_LOG_LINES:]
                code = proc.wait()
            if code == 0:
                on_success()
        except Exception as exc:  # noqa: BLE001  (shown on the page: the page must not die with the build)
            with self._lock:
                self.lines.append(f"error: {exc}")
            code = code or 1
        finally:
            with self._lock:
                self.running, self.exit_code = False, code

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"running": self.running, "lines": list(self.lines), "exit_code": self.exit_code}
