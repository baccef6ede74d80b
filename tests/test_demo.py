"""The demo recipe, as `make build` runs it, meets the acceptance figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import ClassLabel, load_dataset

import hf_ftbuilder

from .conftest import REPO

FTBUILD = [sys.executable, "-m", "hf_ftbuilder"]
DEMO = REPO / "dataset_scripts" / "demo.yaml"
# What a progress bar leaves in a log: tqdm's bar, rate and carriage returns.
BAR_TEXT = re.compile(r"\r|\d+%\||it/s|examples/s|Flattening|Casting|Creating parquet|Loading weights")


@pytest.fixture(scope="module")
def demo(demo_run: tuple[Path, subprocess.CompletedProcess]) -> Path:
    return demo_run[0]


def test_a_build_into_a_log_has_one_line_per_stage_and_no_bars(demo_run) -> None:
    out, run = demo_run
    lines = run.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == list(hf_ftbuilder.STAGES), run.stderr
    assert lines[3].startswith("dedup: kept 5061/5574 (exact_duplicate=429, near_duplicate=84) (")
    assert not BAR_TEXT.search(run.stderr), run.stderr
    assert run.stdout == f"built {out} (train=4049, validation=506, test=506)\n"


@pytest.mark.slow  # a second demo build; make test checks the log lines of the first
def test_quiet_says_nothing_below_warning(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # -q after the subcommand, --debug before it: both places take both.
    run = subprocess.run([*FTBUILD, "--debug", "build", str(DEMO), "-o", str(out), "-q"],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout == f"built {out} (train=4049, validation=506, test=506)\n"


def test_demo_loads_with_class_labels_and_counts_agree(demo: Path) -> None:
    dd = load_dataset(str(demo))
    assert list(dd) == ["train", "validation", "test"]
    assert dd["train"].features["label"] == ClassLabel(names=["ham", "spam"])
    quality = json.loads((demo / "quality.json").read_text())
    card_yaml = yaml.safe_load((demo / "README.md").read_text().split("---\n")[1])
    declared = {s["name"]: s["num_examples"] for s in card_yaml["dataset_info"]["splits"]}
    for name, ds in dd.items():
        assert ds.num_rows == quality["splits"][name]["num_rows"] == declared[name]
    assert card_yaml["license"] == "cc-by-4.0"
    # The collection's exact-duplicate copies are gone (403 byte-identical, a dozen more differing in case/space).
    dedup = next(s for s in quality["stages"] if s["name"] == "dedup")
    assert dedup["rows_in"] == 5574 and dedup["dropped"]["exact_duplicate"] >= 403


def test_demo_split_is_stratified_and_disjoint(demo: Path) -> None:
    dd = load_dataset(str(demo))
    labels = {name: ds["label"] for name, ds in dd.items()}
    everything = [x for v in labels.values() for x in v]
    spam_share = everything.count(1) / len(everything)
    for name, values in labels.items():
        assert abs(values.count(1) / len(values) - spam_share) < 0.02, name
    ids = [i for ds in dd.values() for i in ds["id"]]
    assert len(ids) == len(set(ids))


def test_demo_text_is_free_of_entities_and_control_characters(demo: Path) -> None:
    import csv
    import re

    raw = [row["text"] for row in csv.DictReader((REPO / "dataset_scripts" / "data" / "sms_spam.csv").open(newline=""))]
    artefact = re.compile(r"&(?:lt|gt|amp|quot|#\d+);|[\x80-\x9f]")
    assert sum(bool(artefact.search(t)) for t in raw) > 100  # the sample has them...
    dd = load_dataset(str(demo))
    texts = [t for ds in dd.values() for t in ds["text"]]
    assert not any(artefact.search(t) for t in texts)  # ...the build does not
    quality = json.loads((demo / "quality.json").read_text())
    clean = next(s for s in quality["stages"] if s["name"] == "clean")["details"]
    assert clean["touched"]["html"] > 100 and clean["touched"]["fix_unicode"] > 10  # rows each rule changed
    card = (demo / "README.md").read_text()
    assert f"html {clean['touched']['html']}" in card


def test_the_builds_recipe_yaml_rebuilds_the_same_files(demo: Path, tmp_path: Path) -> None:
    # recipe.yaml placed where demo.yaml was (beside data/sms_spam.csv), built to another folder.
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "dataset_scripts" / "data" / "sms_spam.csv", tmp_path / "data" / "sms_spam.csv")
    shutil.copy(demo / "recipe.yaml", tmp_path / "recipe.yaml")
    # The original recipe's folder has its cache beside it too (.ftbuild/demo): so does this one.
    (tmp_path / ".ftbuild").symlink_to(REPO / "dataset_scripts" / ".ftbuild")
    again = hf_ftbuilder.build(tmp_path / "recipe.yaml", output_dir=tmp_path / "elsewhere").output_dir
    data = sorted(p.relative_to(demo).as_posix() for p in (demo / "data").glob("*.parquet"))
    assert data == sorted(p.relative_to(again).as_posix() for p in (again / "data").glob("*.parquet"))
    for rel in [*data, "README.md", "recipe.yaml"]:
        assert (demo / rel).read_bytes() == (again / rel).read_bytes(), rel
    before, after = (json.loads((d / "quality.json").read_text()) for d in (demo, again))
    before.pop("run"), after.pop("run")
    assert before == after
