"""One very long row: peak memory of a whole build with it dropped (the default) and kept.

The corpus is the demo's 5,574 SMS messages plus one JSON line of about 53 MB (English words
drawn from the messages, so it tokenises, fingerprints and counts like text). The recipe is the
demo's (clean, exact and near dedup, labels from the column, stratified split, leakage check,
report without the model figures, whose samples would not include the row anyway).

Each build runs in a fresh process; its peak RSS comes from ``wait4`` (the kernel's high-water
mark for that process). The peer in the same run is the same build without the long row, so the
ratio says what the row costs on top of the corpus.

Targets (issue 17): dropped as ``too_long_row`` by default with a peak under 1.5 GB; with
``collect.max_row_chars`` raised, the build succeeds with a peak under 1 GB plus 10x the row.

Run: ``.venv/bin/python -m benchmarks.long_rows [--row-mb 53]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SMS = REPO / "dataset_scripts" / "data" / "sms_spam.csv"
REPORT = {"tokenizer": "none", "diversity_sample": 0, "plots": False}


def _corpus(folder: Path, row_mb: float | None) -> Path:
    rows = list(csv.DictReader(SMS.open(encoding="utf-8", newline="")))
    path = folder / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({"text": row["text"], "label": row["label"]}) + "\n")
        if row_mb:
            words = [w for row in rows for w in row["text"].split()]
            rng = random.Random(0)
            target, parts, size = int(row_mb * 1e6), [], 0
            while size < target:
                chunk = " ".join(rng.choices(words, k=10_000))
                parts.append(chunk)
                size += len(chunk) + 1
            fh.write(json.dumps({"text": " ".join(parts), "label": "ham"}) + "\n")
    return path


def _build(folder: Path, name: str, max_row_chars: int | None) -> dict:
    recipe = {
        "name": name,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "column", "labels": ["ham", "spam"]},
        "report": REPORT,
    }
    if max_row_chars:
        recipe["collect"] = {"max_row_chars": max_row_chars}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = folder / f"out-{name}"
    proc = subprocess.Popen([sys.executable, "-m", "hf_ftbuilder", "build", str(folder / f"{name}.yaml"), "-o",
                             str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name}: build failed: {stderr.strip()}")
    quality = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    collect = next(s for s in quality["stages"] if s["name"] == "collect")
    return {"peak_mb": usage.ru_maxrss / 1024, "dropped": collect["dropped"], "stages": quality["run"]["stages"],
            "rows": sum(s["num_rows"] for s in quality["splits"].values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row-mb", type=float, default=53.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, long = Path(tmp) / "plain", Path(tmp) / "long"
        plain.mkdir(), long.mkdir()
        _corpus(plain, None)
        row_bytes = _corpus(long, args.row_mb).stat().st_size - (plain / "corpus.jsonl").stat().st_size
        runs = {
            "without the row": _build(plain, "plain", None),
            "row dropped (default limit)": _build(long, "dropped", None),
            "row kept (limit raised)": _build(long, "kept", int(args.row_mb * 1e6 * 1.2)),
        }
    base = runs["without the row"]["peak_mb"]
    row_mb = row_bytes / 2**20
    print(f"corpus: 5,574 SMS messages; the long row: {row_mb:.1f} MB\n")
    print("| build | rows out | collect dropped | peak RSS MB | x without the row | target MB |")
    print("|---|---:|---|---:|---:|---:|")
    targets = {"row dropped (default limit)": 1536, "row kept (limit raised)": 1024 + 10 * row_mb}
    for name, run in runs.items():
        target = targets.get(name)
        print(f"| {name} | {run['rows']:,} | {run['dropped'] or '-'} | {run['peak_mb']:,.0f} | "
              f"{run['peak_mb'] / base:.2f} | {f'{target:,.0f}' if target else '-'} |")
    kept = runs["row kept (limit raised)"]["stages"]
    print("\nper-stage peak RSS MB with the row kept: "
          + ", ".join(f"{stage} {figures['peak_rss_mb']:.0f}" for stage, figures in kept.items()))


if __name__ == "__main__":
    main()
