"""The review page with 100,000 rows in a queue: page load, next-row answers, and the server's memory.

A manual-labelling recipe over 100,000 distinct generated texts (six rows labelled, so the build
has classes; every other row waits in ``review/not_annotated.parquet``) is built once; then
``ftbuild review`` serves it in a process of its own, and a client on loopback measures, 200 times
each:

- page load: what the browser asks for when the page opens (the page, its script and stylesheet,
  the state, the first 50 rows of the first queue), one after the other;
- next row: one decision (POST, on disk before the answer) and, as the page does every 50 rows, the
  next page of 50 at a random offset;
- a text filter over the 100,000 rows (a new query each time, so never a cached result).

The server's resident memory is read (``/proc``) after loading and after the requests.

Run: ``.venv/bin/python -m benchmarks.review_latency [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

import hf_ftbuilder

WORDS = ("football match goal team league coach striker referee stadium season recipe oven flour bake sugar "
         "butter dough simmer garlic kitchen rocket orbit planet nasa astronaut launch satellite telescope "
         "galaxy moon the a of and today people said new year after").split()
LABELS = ["sports", "cooking", "space"]


def _project(folder: Path, rows: int) -> Path:
    rng = random.Random(0)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120))) + f" row {i}"
            fh.write(json.dumps({"text": text}) + "\n")
    recipe = {
        "name": "review_bench", "seed": 1,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "dedup": {"near": {"enabled": False}},
        "label": {"method": "manual", "labels": LABELS, "annotations": "seed.csv"},
        "split": {"method": "random"},
        "report": {"tokenizer": "none", "diversity_sample": 0, "baseline": False, "label_noise": False,
                   "plots": False},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _seed_labels(folder: Path, recipe: Path) -> None:
    """Six rows labelled (two per label): the ids are the build's, read from a build up to dedup."""
    plain = {k: v for k, v in yaml.safe_load(recipe.read_text()).items() if k != "label"}
    probe = folder / "probe.yaml"
    probe.write_text(yaml.safe_dump(plain))
    ids = hf_ftbuilder.build(probe, output_dir=folder / "probe", until="dedup", progress=False).dataset["train"]["id"]
    (folder / "seed.csv").write_text("id,label\n" + "".join(f"{ids[k]},{LABELS[k % 3]}\n" for k in range(6)))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _pct(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return f"p50 {statistics.median(values):7.1f} ms   p95 {q[18]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        folder = Path(tmp)
        recipe = _project(folder, args.rows)
        _seed_labels(folder, recipe)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hf_ftbuilder", "-q", "build", str(recipe), "--output",
                        str(folder / "out")], check=True)
        print(f"built {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hf_ftbuilder", "-q", "review", str(recipe), "--output",
                                 str(folder / "out"), "--no-browser", "--annotator", "bench"],
                                stdout=subprocess.PIPE, text=True)
        try:
            url = proc.stdout.readline().strip()
            print(f"server up in {time.perf_counter() - started:.1f} s, RSS {_rss_mb(proc.pid):.0f} MB")
            base, token = url.split("/?token=")
            head = {"X-Token": token}

            def get(path: str) -> bytes:
                with urllib.request.urlopen(urllib.request.Request(base + path, headers=head), timeout=30) as r:
                    return r.read()

            def post(path: str, body: dict) -> bytes:
                request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                                 headers={**head, "Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as r:
                    return r.read()

            state = json.loads(get("/api/state"))
            rows_queue = next(q for q in state["queues"] if q["key"] == "rows")
            print(f"queue 'rows': {rows_queue['count']:,} rows")
            first = json.loads(get("/api/queue/rows?offset=0&limit=50"))["rows"]
            ids = [r["id"] for r in first]
            rng = random.Random(1)

            def load_page() -> None:
                for path in ("/", "/static/review.js", "/static/review.css", "/api/state",
                             "/api/queue/rows?offset=0&limit=50"):
                    get(path)

            loads = [_timed(load_page) for _ in range(args.requests)]
            decides = [_timed(lambda k=k: post("/api/decide", {"queue": "rows", "id": ids[k % len(ids)],
                                                               "label": LABELS[k % 3]}))
                       for k in range(args.requests)]
            pages = [_timed(lambda: get(f"/api/queue/rows?offset={rng.randrange(rows_queue['count'] - 50)}&limit=50"))
                     for _ in range(args.requests)]
            filters = [_timed(lambda k=k: get(f"/api/queue/rows?offset=0&limit=50&q=row+{k}1"))
                       for k in range(args.requests // 4)]
            print(f"page load (5 requests)   {_pct(loads)}")
            print(f"decision (POST, on disk) {_pct(decides)}")
            print(f"next page of 50 rows     {_pct(pages)}")
            print(f"filter over all rows     {_pct(filters)}   ({len(filters)} new queries)")
            print(f"server RSS after the requests: {_rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
