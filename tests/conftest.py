"""Shared fixtures: a private ``datasets`` cache, no progress bars, and small factories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60)
settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = Path(os.environ.get("FTBUILD_SHARED_DATA", REPO.parent / "shared" / "data"))
#: The report with only its cheap figures (sizes, balance, lengths, lexical diversity): a test
#: builds with the figures it asserts, and this is the default of the recipes tests write.
LIGHT_REPORT = {"tokenizer": "none", "diversity_sample": 0, "baseline": False, "label_noise": False, "plots": False}


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    datasets.disable_progress_bars()


@pytest.fixture
def make_dataset():
    """``make_dataset(texts, **columns)``: a Dataset with ``id`` and ``text`` (and more columns)."""

    def make(texts: list[str | None], **columns: list[Any]) -> datasets.Dataset:
        data = {"id": [f"r{i}" for i in range(len(texts))], "text": list(texts)}
        data.update(columns)
        return datasets.Dataset.from_dict(data)

    return make


@pytest.fixture
def write_recipe(tmp_path: Path):
    """``write_recipe(dict, name="recipe.yaml")`` writes a recipe into the test's folder."""

    def write(recipe: dict[str, Any], name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; checks marked ``shared`` fail, not skip, without it."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} not found: `make check-shared` needs ../shared/data (or FTBUILD_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """The demo built once per session as a user builds it: ``ftbuild build`` in a process of its
    own, stderr a pipe (as in CI), not a terminal. Tests read the folder; one that edits it copies it."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    run = subprocess.run([sys.executable, "-m", "hf_ftbuilder", "build", str(REPO / "dataset_scripts" / "demo.yaml"),
                          "-o", str(out)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr
    return out, run
