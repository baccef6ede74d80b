"""The leakage check after a split, on the SMS sample: reported, dropped, avoided by a group split, failed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import hf_ftbuilder
from hf_ftbuilder.errors import StageError

from ..conftest import LIGHT_REPORT, REPO


@pytest.fixture(scope="module")
def sms_recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sms")
    with open(REPO / "dataset_scripts" / "data" / "sms_spam.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:2000]
    with open(folder / "sms.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _build(folder: Path, name: str, split_cfg: dict, leakage: dict | None = None) -> hf_ftbuilder.BuildResult:
    recipe = {
        "name": "sms", "seed": 3,
        "sources": [{"type": "csv", "path": "sms.csv"}],
        "dedup": {"exact": False, "near": {"enabled": False}},
        "label": {"method": "column", "labels": ["ham", "spam"]},
        "split": split_cfg,
        "leakage": leakage or {},
        "report": LIGHT_REPORT,
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(recipe), encoding="utf-8")
    return hf_ftbuilder.build(path, output_dir=folder / name, progress=False)


def test_leakage_is_reported_then_dropped_then_avoided(sms_recipe: Path) -> None:
    reported = _build(sms_recipe, "report", {"method": "random"})
    leak = reported.quality["leakage"]
    assert leak["splits"]["test"]["exact"] > 0 and leak["splits"]["test"]["leaked"] >= leak["splits"]["test"]["exact"]
    print(f"random split: {leak['splits']['test']['leaked']} of {leak['splits']['test']['rows']} test rows leak")
    card = (sms_recipe / "report" / "README.md").read_text()
    assert "**Leakage**" in card and f"| test | {leak['splits']['test']['rows']} |" in card

    dropped = _build(sms_recipe, "drop", {"method": "random"}, {"action": "drop"})
    removed = dropped.quality["stages"][5]["dropped"]["leaked"]
    assert removed == leak["leaked"]
    assert pq.read_table(sms_recipe / "drop" / "dropped" / "split.parquet").num_rows == removed
    train = set(dropped.dataset["train"]["text"])
    assert not [t for part in ("validation", "test") for t in dropped.dataset[part]["text"] if t in train]

    grouped = _build(sms_recipe, "group", {"method": "group", "group_by": "near_duplicates"})
    assert grouped.quality["leakage"]["leaked"] == 0

    with pytest.raises(StageError, match=r"^leakage: rows copy or nearly copy a train row \(validation \d+ of \d+, test \d+ of \d+\)"):
        _build(sms_recipe, "fail", {"method": "random"}, {"action": "fail"})


