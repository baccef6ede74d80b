"""End-to-end scale: wall time and peak memory of a whole build at growing sizes, local engine and Ray.

The corpus is written to disk as it is generated (never held in memory), from real text: AG News
sentences of one topic per document (the label, so the baseline has something to learn) mixed
with sentences of the scrapinghub articles and SMS messages, about 2 KB a document; 10% of the
documents are exact copies and 10% near copies (2-15% of words replaced) of one of the 1,000
documents before them. The recipe is the default one without model labelling: clean, exact and
near dedup, labels from the column, stratified split, the leakage check and the full report.

Each (size, engine) build runs in a fresh process, which samples its own and its children's
memory (Ray's raylet, workers and object store, or datasets' map processes) every 0.2 s:
``driver MB`` is the build process's peak RSS, ``all MB`` the peak of the summed RSS of the
whole process tree (an upper bound: pages shared between processes count once per process).
The exponent of time against size is fitted on the local engine's runs (1.0 is linear).

Run: ``.venv/bin/python -m benchmarks.scale --sizes 10000,100000 --engines local,ray``;
``--size 1000000`` runs the million-document case after checking free disk.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TOPICS = ["world", "sports", "business", "sci_tech"]  # AG News classes 1-4
#: Disk a build of one document takes at most: the JSONL, the collected Arrow file, two clean
#: passes, label and dedup maps, Ray's copies and the parquet output, measured at 100k (x1.5).
BYTES_PER_DOC = 20_000

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")

_CHILD = """
import json, resource, sys, threading, time
import psutil
import hf_ftbuilder

me = psutil.Process()
peak = {"all": 0}
stop = threading.Event()

def sample():
    while not stop.is_set():
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        peak["all"] = max(peak["all"], total)
        stop.wait(0.2)

threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
result = hf_ftbuilder.build(sys.argv[1], output_dir=sys.argv[2], overwrite=True, progress=False)
seconds = time.perf_counter() - start
stop.set()
print(json.dumps({"seconds": seconds,
                  "driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "all_mb": peak["all"] / 2**20,
                  "rows": {k: v.num_rows for k, v in result.dataset.items()},
                  "stages": result.quality["run"]["stage_seconds"],
                  "baseline_accuracy": result.quality["baseline"]["tfidf_logreg"]["cross_validation"]["accuracy"]["mean"]}))
"""


def _pieces(text: str) -> list[str]:
    return [s for s in _SENTENCE_BREAK.split(text.strip()) if len(s.split()) >= 4]


def _pools() -> tuple[dict[int, list[str]], list[str]]:
    """AG News sentences per topic, and the other real sentences (articles, SMS)."""
    ag_path = SHARED / "text" / "ag_news_test.csv"
    if not ag_path.exists():
        raise SystemExit(f"{ag_path} not found: the scale benchmark builds its corpus from ../shared/data")
    topics: dict[int, list[str]] = {i: [] for i in range(len(TOPICS))}
    with ag_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            topics[int(row["label_id"]) - 1].extend(_pieces(row["text"]))
    other: list[str] = []
    for path in (REPO / "tests/data/web/ground-truth.json", SHARED / "html/scrapinghub/ground-truth.json"):
        if path.exists():
            for value in json.loads(path.read_text(encoding="utf-8")).values():
                other.extend(_pieces(value["articleBody"].replace("\n", " ")))
    with (REPO / "dataset_scripts/data/sms_spam.csv").open(encoding="utf-8", newline="") as fh:
        other.extend(p for row in csv.DictReader(fh) for p in _pieces(row["text"]))
    return topics, other


def write_corpus(path: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` JSONL documents to ``path``, one at a time; returns the bytes written."""
    topics, other = _pools()
    rng = random.Random(seed)
    recent: list[tuple[str, int]] = []  # the last 1,000 documents, to copy from
    size = 0
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            kind = rng.random()
            if recent and kind < 0.1:
                text, label = rng.choice(recent)
            elif recent and kind < 0.2:
                text, label = rng.choice(recent)
                words = text.split(" ")
                for _ in range(max(1, int(len(words) * rng.uniform(0.02, 0.15)))):
                    words[rng.randrange(len(words))] = rng.choice(rng.choice(other).split())
                text = " ".join(words)
            else:
                label = rng.randrange(len(TOPICS))
                target, paras, length = rng.randint(1800, 2200), [], 0
                while length < target:
                    para = " ".join(rng.choice(topics[label] if rng.random() < 0.6 else other)
                                    for _ in range(rng.randint(2, 4)))
                    paras.append(para)
                    length += len(para) + 2
                text = "\n\n".join(paras)
            line = json.dumps({"text": text, "label": TOPICS[label]}, ensure_ascii=False) + "\n"
            fh.write(line)
            size += len(line.encode("utf-8"))
            recent.append((text, label))
            if len(recent) > 1000:
                recent.pop(rng.randrange(len(recent)))
    return size


def run(n: int, engine: str, folder: Path) -> dict:
    recipe = {"name": f"scale-{engine}", "seed": 1,
              "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
              "label": {"method": "column", "column": "label", "labels": TOPICS},
              "execution": {"engine": engine, "num_cpus": 2},
              "cache_dir": f"cache-{engine}"}
    path = folder / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(folder / f"out-{engine}")],
                          capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ,
                                                                         "RAY_USAGE_STATS_ENABLED": "0"})
    if done.returncode:
        raise SystemExit(f"{engine} build of {n:,} documents failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(folder / f"cache-{engine}", ignore_errors=True)  # the next engine starts cold too
    return {**figures, "n": n, "engine": engine}


def _exponent(runs: list[dict]) -> float:
    """Least-squares slope of log(seconds) against log(documents): 1.0 is linear."""
    xs = [math.log(r["n"]) for r in runs]
    ys = [math.log(r["seconds"]) for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes, comma-separated")
    parser.add_argument("--size", type=int, help="one size (e.g. 1000000), instead of --sizes")
    parser.add_argument("--engines", default="local,ray", help="local, ray or both")
    parser.add_argument("--workdir", default=None, help="where corpora and builds go (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = [args.size] if args.size else [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    base = Path(args.workdir or tempfile.mkdtemp(prefix="ftscale-"))
    base.mkdir(parents=True, exist_ok=True)
    need = max(sizes) * BYTES_PER_DOC
    free = shutil.disk_usage(base).free
    print(f"work dir {base}: {free / 1e9:.1f} GB free; the largest size needs about {need / 1e9:.1f} GB", flush=True)
    if free < need:
        raise SystemExit(f"not enough disk in {base}: {max(sizes):,} documents need about {need / 1e9:.1f} GB, "
                         f"{free / 1e9:.1f} GB free (use --workdir)")
    runs = []
    try:
        for n in sizes:
            folder = base / f"n{n}"
            folder.mkdir(exist_ok=True)
            megabytes = write_corpus(folder / "corpus.jsonl", n) / 1e6
            for engine in engines:
                r = run(n, engine, folder)
                r["megabytes"] = round(megabytes, 1)
                runs.append(r)
                print(f"{n:,} docs ({r['megabytes']} MB), {engine}: {r['seconds']:.1f} s, driver {r['driver_mb']:.0f} MB,"
                      f" all processes {r['all_mb']:.0f} MB; stages {r['stages']}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    print("\n| documents | MB | engine | wall s | docs/s | driver peak RSS MB | all processes MB | slowest stages |")
    print("|---:|---:|---|---:|---:|---:|---:|---|")
    for r in runs:
        slow = sorted(r["stages"].items(), key=lambda kv: -kv[1])[:3]
        print(f"| {r['n']:,} | {r['megabytes']} | {r['engine']} | {r['seconds']:.1f} | {r['n'] / r['seconds']:,.0f} | "
              f"{r['driver_mb']:.0f} | {r['all_mb']:.0f} | " + ", ".join(f"{k} {v:.1f} s" for k, v in slow) + " |")
    for engine in engines:
        mine = [r for r in runs if r["engine"] == engine]
        if len(mine) >= 2:
            print(f"\n{engine}: fitted exponent of time against size {_exponent(mine):.2f} (target <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
