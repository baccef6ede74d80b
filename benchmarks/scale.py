"""End-to-end scale: wall time and peak RSS of a whole build at growing corpus sizes (local engine).

The corpus is the dedup benchmark's planted one (real text from the scrapinghub articles, AG News
and SMS, about 2 KB a document, 10% exact and 10% near copies), with a seeded random label of 4
per document. Each size is built by ``ftbuild build`` in a fresh process with the default recipe
(clean, exact and near dedup, label column, stratified split, leakage check, the full report);
the process reports its own wall time and peak RSS, and ``quality.json``'s ``run`` section gives
the stages. The exponent of time against size is fitted on the sizes run (1.0 is linear).
Run: ``.venv/bin/python -m benchmarks.scale --sizes 10000,100000``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks.dedup_benchmark import build_corpus

REPO = Path(__file__).resolve().parents[1]
LABELS = ["a", "b", "c", "d"]

_CHILD = """
import json, resource, sys, time
import hf_ftbuilder
start = time.perf_counter()
result = hf_ftbuilder.build(sys.argv[1], output_dir=sys.argv[2], progress=False)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": {k: v.num_rows for k, v in result.dataset.items()},
                  "stages": result.quality["run"]["stage_seconds"]}))
"""


def run_size(n: int, tmp: Path) -> dict:
    corpus = build_corpus(n)
    rng = random.Random(n)
    folder = tmp / f"n{n}"
    folder.mkdir()
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for text in corpus["texts"]:
            fh.write(json.dumps({"text": text, "label": rng.choice(LABELS)}) + "\n")
    recipe = {"name": f"scale{n}", "seed": 1, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
              "label": {"method": "column", "labels": LABELS}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder / "recipe.yaml"), str(folder / "out")],
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"build of {n} documents failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["n"] = n
    figures["megabytes"] = round(sum(len(t.encode()) for t in corpus["texts"]) / 1e6, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="corpus sizes, comma-separated")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            runs.append(run_size(n, Path(tmp)))
            r = runs[-1]
            print(f"{n:,} docs ({r['megabytes']} MB): {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB; "
                  f"stages {r['stages']}", flush=True)
    print("\n| documents | MB | wall s | peak RSS MB | slowest stages |\n|---:|---:|---:|---:|---|")
    for r in runs:
        slow = sorted(r["stages"].items(), key=lambda kv: -kv[1])[:3]
        print(f"| {r['n']:,} | {r['megabytes']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
              + ", ".join(f"{k} {v:.1f} s" for k, v in slow) + " |")
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        exponent = math.log(b["seconds"] / a["seconds"]) / math.log(b["n"] / a["n"])
        print(f"\nfitted exponent of time against size: {exponent:.2f} (target <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
