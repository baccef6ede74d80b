"""Do two versions of hf_ftbuilder build the same folders? Build a fixed set of recipes, save or compare.

The recipes: every one in ``dataset_scripts/``, the tests' planted topic corpus (exact copies,
empty rows, an unknown label) with the full report, a near-duplicate family corpus split by
groups, and, when ``../shared/data`` exists, the AG News and SMS builds of ``make check-shared``.

``--save DIR`` builds them into ``DIR/<case>``; ``--against DIR`` builds them again into a temp
folder and compares file by file. Compared as they are: the parquet files (data, dropped, review),
the images and ``recipe.yaml``'s body. Compared without what names the recipe's own shape:
``quality.json`` without ``run`` (timings) and ``recipe_fingerprint``, the card without its
fingerprint lines, ``recipe.yaml`` without its comment header (a change of the recipe's schema
changes those, not the dataset).

Run: ``.venv/bin/python -m benchmarks.same_output --save /tmp/before`` on one commit, then
``--against /tmp/before`` on another; it prints one line per case and exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TOPICS = ["world", "sports", "tech"]


def _planted(folder: Path) -> Path:
    lines = [{"text": f"Story {i} about {TOPICS[i % 3]}: item {i * 7} happened.", "label": TOPICS[i % 3]}
             for i in range(90)]
    lines += [{"text": "  " + lines[i]["text"].upper() + "  ", "label": lines[i]["label"]} for i in (0, 4, 8)]
    lines += [{"text": " <br> &nbsp; ", "label": "world"}] * 2 + [{"text": "A label nobody asked for.", "label": "x"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    recipe = {"name": "planted", "seed": 13, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
              "label": {"method": "column", "labels": TOPICS}, "report": {"diversity_sample": 40}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return folder / "recipe.yaml"


def _families(folder: Path) -> Path:
    rng = random.Random(5)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()
    rows = []
    for family in range(40):
        base = [rng.choice(words) for _ in range(30)]
        for member in range(3):
            text = base[:]
            text[rng.randrange(30)] = rng.choice(words)
            rows.append({"text": " ".join(text) + f" {member}", "label": "ab"[family % 2]})
    (folder / "corpus.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    recipe = {"name": "families", "seed": 3, "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
              "dedup": {"near": {"enabled": False}}, "label": {"method": "column", "labels": ["a", "b"]},
              "split": {"method": "group", "group_by": "near_duplicates"}, "leakage": {"action": "drop"},
              "balance": {"method": "oversample"}, "report": {"diversity_sample": 40}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return folder / "recipe.yaml"


def _shared(folder: Path, name: str) -> Path:
    file = {"ag_news": "ag_news_test.csv", "sms": "sms_spam.csv"}[name]
    labels = ["World", "Sports", "Business", "Sci/Tech"] if name == "ag_news" else ["ham", "spam"]
    shutil.copy(SHARED / "text" / file, folder / file)
    recipe = {"name": name, "sources": [{"type": "csv", "path": file}], "label": {"column": "label", "labels": labels}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return folder / "recipe.yaml"


def _cases(work: Path) -> dict[str, Path]:
    cases = {f"dataset_scripts/{p.stem}": p for p in sorted((REPO / "dataset_scripts").glob("*.yaml"))}
    for name, make in (("planted", _planted), ("families", _families)):
        (work / name).mkdir()
        cases[name] = make(work / name)
    if SHARED.is_dir():
        for name in ("ag_news", "sms"):
            (work / name).mkdir()
            cases[f"shared/{name}"] = _shared(work / name, name)
    return cases


def _comparable(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == "quality.json":
            quality = json.loads(path.read_text(encoding="utf-8"))
            for key in ("run", "recipe_fingerprint", "files"):
                quality.pop(key, None)
            out[rel] = quality
        elif rel == "README.md":
            out[rel] = re.sub(r"fingerprint `[0-9a-f]+`", "fingerprint `-`", path.read_text(encoding="utf-8"))
        elif rel == "recipe.yaml":
            out[rel] = yaml.safe_load(path.read_text(encoding="utf-8"))["name"]
        else:
            out[rel] = path.read_bytes()
    return out


def _build_all(target: Path) -> dict[str, Path]:
    import hf_ftbuilder

    built = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, recipe in _cases(Path(tmp)).items():
            out = target / case
            hf_ftbuilder.build(recipe, output_dir=out, overwrite=True, progress=False)
            built[case] = out
    return built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="build every case into this folder")
    group.add_argument("--against", type=Path, help="build every case again and compare with this folder")
    args = parser.parse_args()
    if args.save:
        for case, out in _build_all(args.save.resolve()).items():
            print(f"saved {case}: {out}")
        return 0
    different = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case, out in _build_all(Path(tmp)).items():
            before_dir = args.against / case
            if not before_dir.is_dir():
                print(f"{case}: not in {args.against}")
                different += 1
                continue
            before, now = _comparable(before_dir), _comparable(out)
            changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
            print(f"{case}: {'same' if not changed else 'DIFFERENT: ' + ', '.join(changed)} ({len(now)} files)")
            different += bool(changed)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
