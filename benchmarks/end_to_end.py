"""Whole processes, timed as a person waits for them: ``ftbuild build`` against text-dedup's CLI.

Every run is a fresh process, timed from its start to its exit (imports, reading the JSONL,
writing the output, all of it), on the same corpus, in the same run, with both cores and cold
caches (a fresh ``cache_dir`` and a fresh ``HF_DATASETS_CACHE`` each time):

* **peek**: ``python -m hf_ftbuilder build peek.yaml --until dedup`` on the dedup benchmark's
  planted corpus (``benchmarks.dedup_benchmark.build_corpus``: real text, 10% exact and 10% near
  copies) at each ``--sizes``. The recipe is the default one (clean's default normalisers, PII
  redaction and boilerplate removal included) with ``num_cpus: 2``; dedup's defaults are text-dedup's
  settings below (exact, then MinHash LSH at Jaccard 0.8, 128 permutations, word 5-grams). What
  ends the peek is its report without model figures and the parquet output.
* **build**: ``python -m hf_ftbuilder build scale.yaml`` on the scale benchmark's corpus
  (``benchmarks.scale.write_corpus``, a topic label per document) at ``--build-size``: the default
  recipe with labels from the column (``benchmarks.scale``'s recipe): clean, dedup, label, split
  with the leakage check, and the full report (embedding figures and the cross-validated baseline).
  The report's share is its seconds in ``quality.json`` (``run.stage_seconds.report``) over the
  process's wall time.
* **text-dedup** 0.4.1 (its own venv, ``benchmarks.dedup_benchmark --install-peers``):
  ``python -m text_dedup.minhash`` with a ``config.toml`` as its README shows: JSONL input,
  ``ngram_size=5``, ``num_perm=128``, ``threshold=0.8``, ``hash_bits=64``, ``num_proc=2``, output
  saved; ``check_false_positive`` at the library's default (false) unless ``--verify``, which makes
  it slower (its pairs are then checked by exact Jaccard, as ours always are). It runs on each
  corpus above.

Prints one markdown table: seconds per process (the median of ``--repeat`` runs of each side,
interleaved: times on a shared machine swing by 10-20% from one run to the next) and the ratio
ours / text-dedup (below 1: ours takes less time). Needs ../shared/data (the corpora's real text).

    .venv/bin/python -m benchmarks.end_to_end [--sizes 10000,100000] [--build-size 100000] [--verify]
        [--repeat 3] [--build-repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks import dedup_benchmark, scale

REPO = Path(__file__).resolve().parents[1]
TEXT_DEDUP = dedup_benchmark.PEERS["text-dedup"][0] / "bin" / "python"


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Each tool as a person runs it: no thread settings (TOKENIZERS_PARALLELISM=false here once made
    # the report's token counts use one core of two).
    env.update({"HF_DATASETS_CACHE": str(folder / "hf-cache"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": ""})
    env.pop("TOKENIZERS_PARALLELISM", None)
    return env


def _wall(cmd: list[str], folder: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def ours(folder: Path, recipe: dict, *, until: str | None) -> dict:
    """One ``ftbuild build`` process in ``folder`` (fresh cache); its wall time and stage seconds."""
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    shutil.rmtree(folder / "cache", ignore_errors=True)
    cmd = [sys.executable, "-m", "hf_ftbuilder", "build", str(path), "--output", str(folder / "out"), "--overwrite", "-q"]
    if until:
        cmd += ["--until", until]
    env = _env(folder)
    env["PYTHONPATH"] = str(REPO)
    seconds = _wall(cmd, folder, env)
    run = json.loads((folder / "out" / "quality.json").read_text(encoding="utf-8"))["run"]
    shutil.rmtree(folder / "cache", ignore_errors=True)
    figures = {name: entry["seconds"] for name, entry in run.get("report", {}).items() if "seconds" in entry}
    return {"seconds": seconds, "stages": run["stage_seconds"], "report": figures}


def text_dedup(folder: Path, jsonl: Path, *, verify: bool) -> float:
    """One ``python -m text_dedup.minhash`` process in ``folder`` (fresh caches and output)."""
    work = folder / "text-dedup"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "config.toml").write_text(
        dedup_benchmark.text_dedup_config(jsonl, work, verify=verify, seed=42, threads=2), encoding="utf-8")
    seconds = _wall([str(TEXT_DEDUP), "-m", "text_dedup.minhash"], work, _env(work))
    shutil.rmtree(work, ignore_errors=True)
    return seconds


def _medians(runs: list[tuple[float, dict]]) -> tuple[float, dict]:
    """The median text-dedup time, and our run with the median time (runs interleaved, one pair
    at a time, so a slow spell of the machine touches both sides)."""
    peers = sorted(peer for peer, _ in runs)
    mine = sorted((run for _, run in runs), key=lambda run: run["seconds"])
    return peers[len(runs) // 2], mine[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="peek corpus sizes (the dedup benchmark's corpus)")
    parser.add_argument("--build-size", type=int, default=100_000, help="full build size (the scale corpus); 0: none")
    parser.add_argument("--verify", action="store_true", help="text-dedup with check_false_positive = true")
    parser.add_argument("--repeat", type=int, default=3, help="peek runs per size, each side (medians)")
    parser.add_argument("--build-repeat", type=int, default=1, help="full build runs, each side (medians)")
    args = parser.parse_args(argv)
    if not TEXT_DEDUP.exists():
        raise SystemExit(f"{TEXT_DEDUP} not found: run .venv/bin/python -m benchmarks.dedup_benchmark --install-peers "
                         "--peers text-dedup first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ftbuild-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        for n in [int(s) for s in args.sizes.split(",") if s]:
            folder = tmp / f"peek-{n}"
            folder.mkdir()
            jsonl = folder / "corpus.jsonl"
            with jsonl.open("w", encoding="utf-8") as fh:
                for i, text in enumerate(dedup_benchmark.build_corpus(n)["texts"]):
                    fh.write(json.dumps({"id": f"doc-{i:07d}", "text": text}) + "\n")
            recipe = {"name": f"peek-{n}", "seed": 1, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
                      "execution": {"num_cpus": 2}, "cache_dir": "cache"}
            peer, mine = _medians([(text_dedup(folder, jsonl, verify=args.verify), ours(folder, recipe, until="dedup"))
                                   for _ in range(args.repeat)])
            rows.append((f"`--until dedup`, dedup corpus, {n:,} docs", mine, peer, None))
            print(f"peek {n:,}: ours {mine['seconds']:.1f} s {mine['stages']}, text-dedup {peer:.1f} s", flush=True)
        if args.build_size:
            n = args.build_size
            folder = tmp / f"build-{n}"
            folder.mkdir()
            scale.write_corpus(folder / "corpus.jsonl", n)
            recipe = {"name": f"scale-{n}", "seed": 1, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
                      "label": {"method": "column", "column": "label", "labels": scale.TOPICS},
                      "execution": {"num_cpus": 2}, "cache_dir": "cache"}
            peer, mine = _medians([(text_dedup(folder, folder / "corpus.jsonl", verify=args.verify),
                                    ours(folder, recipe, until=None)) for _ in range(args.build_repeat)])
            share = mine["stages"].get("report", 0.0) / mine["seconds"]
            rows.append((f"full build, scale corpus, {n:,} docs", mine, peer, share))
            print(f"build {n:,}: ours {mine['seconds']:.1f} s {mine['stages']}, report figures {mine['report']}, "
                  f"text-dedup {peer:.1f} s", flush=True)
    check = "on" if args.verify else "off (its default)"
    print(f"\n| process | hf_ftbuilder s | text-dedup s (false-positive check {check}) | ratio | report share |")
    print("|---|---:|---:|---:|---:|")
    for name, mine, peer, share in rows:
        print(f"| {name} | {mine['seconds']:.1f} | {peer:.1f} | {mine['seconds'] / peer:.2f} | "
              + (f"{share:.0%} |" if share is not None else "- |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
