"""Engines: the local engine in several processes and the Ray engine build the same bytes."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

import hf_ftbuilder
from hf_ftbuilder import engine as engine_mod
from hf_ftbuilder.cli import main
from hf_ftbuilder.config import Execution
from hf_ftbuilder.errors import MissingDependencyError
from hf_ftbuilder.pipeline import make_engine

from .conftest import REPO

DEMO_CSV = REPO / "dataset_scripts" / "data" / "sms_spam.csv"


def _recipe(folder: Path, rows: int, **extra) -> dict:
    """The demo recipe over the first ``rows`` SMS, with near dedup, leakage and the report on."""
    with open(DEMO_CSV, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        kept = [next(reader), *(row for _, row in zip(range(rows), reader))]
    with open(folder / "sms.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(kept)
    return {
        "name": "engines", "seed": 7,
        "sources": [{"type": "csv", "path": "sms.csv", "text_column": "text"}],
        "clean": {"html": True, "min_words": 1},
        "dedup": {"near": {"enabled": True, "threshold": 0.7}},
        "label": {"method": "column", "column": "label", "labels": ["ham", "spam"]},
        "split": {"method": "stratified", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}},
        "report": {"diversity_sample": 40, "cv_folds": 3},
        **extra,
    }


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a build, with ``quality.json``'s ``run`` section (timings, engine) left out."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "quality.json":
            quality = json.loads(data)
            quality.pop("run")
            data = json.dumps(quality, sort_keys=True).encode()
        out[str(path.relative_to(folder))] = data
    return out


def _build(folder: Path, name: str, recipe: dict, write_recipe) -> Path:
    # Each engine gets its own cache, so neither reads what the other computed.
    path = write_recipe({**recipe, "cache_dir": f"cache-{name}"}, name=f"{name}.yaml")
    out = folder / f"out-{name}"
    hf_ftbuilder.build(path, output_dir=out, progress=False)
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs in a temp dir, usage stats off; stopped after the module."""
    import ray
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray's socket paths must stay short: a pytest tmp path can be too long.
    temp_dir = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    ray.init(num_cpus=2, _temp_dir=temp_dir, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow  # a Ray cluster and three builds: make check-shared runs it (the ray extra is optional)
def test_ray_engine_builds_the_local_engines_bytes(tmp_path, write_recipe, ray_cluster, monkeypatch) -> None:
    recipe = _recipe(tmp_path, 1200)
    # The baseline, the noise estimate and the plots run on the driver whatever the engine (and
    # have their own tests): off here. Token counts are a model step like the embeddings kept on
    # here (an actor pool per split: seconds each); test_ray_steps_cut_into_windows runs them on Ray.
    recipe["report"] = {**recipe["report"], "baseline": False, "label_noise": False, "plots": False,
                        "tokenizer": "none"}
    local = _build(tmp_path, "local", {**recipe, "execution": {"engine": "local", "num_cpus": 1}}, write_recipe)
    on_ray = _build(tmp_path, "ray", {**recipe, "execution": {"engine": "ray"}}, write_recipe)
    local_files, ray_files = _files(local), _files(on_ray)
    assert sorted(ray_files) == sorted(local_files)
    assert [name for name in local_files if local_files[name] != ray_files[name]] == []
    run = json.loads((on_ray / "quality.json").read_text())["run"]
    assert run["engine"] == "ray" and json.loads((local / "quality.json").read_text())["run"]["engine"] == "local"
    # The maps really ran on Ray: their results are in the Ray engine's cache, none in the local one's.
    assert len(list((tmp_path / "cache-ray" / "datasets" / "ray").glob("*.arrow"))) >= 5
    assert not (tmp_path / "cache-local" / "datasets" / "ray").exists()
    # A rebuild on Ray reads every map back from that cache and still writes the same bytes.
    again = tmp_path / "again"
    hf_ftbuilder.build(tmp_path / "ray.yaml", output_dir=again, progress=False)
    assert _files(again) == ray_files


@pytest.mark.slow  # Ray's windows, beside the Ray build above
def test_ray_steps_cut_into_windows_give_the_local_rows(tmp_path, ray_cluster, monkeypatch) -> None:
    """Blocks of one batch and windows of one block: a step goes through Ray in several executions
    (a model loaded once per window and actor) and gives the rows the local engine gives."""
    from datasets import Dataset, Features, Value

    from hf_ftbuilder.quality import text_stats

    texts = [f"message {i}: " + "word " * (i % 17) for i in range(1_200)]  # two windows of 1,000 rows
    ds = Dataset.from_dict({"text": texts})
    monkeypatch.setattr(engine_mod, "_BLOCK_BATCHES", 1)
    monkeypatch.setattr(engine_mod, "_WINDOW_BYTES", 1)
    ray_engine = engine_mod.RayEngine(cache_dir=tmp_path, progress=False)
    local = engine_mod.LocalEngine(1, progress=False)
    counts = Features({"_chars": Value("int64"), "_words": Value("int64")})
    kwargs = {"features": counts, "remove_columns": ["text"], "desc": "count"}
    assert ray_engine.map(ds, text_stats.row_stats_batch, **kwargs).to_dict() == \
        local.map(ds, text_stats.row_stats_batch, **kwargs).to_dict()
    tokens = {"init_kwargs": {"tokenizer": "sentence-transformers/all-MiniLM-L6-v2"},
              "features": Features({"_tokens": Value("int64")}), "remove_columns": ["text"], "desc": "tokens",
              "batch_size": 1000, "fingerprint": "tokens-windows"}
    on_ray = ray_engine.map_model(ds, text_stats.TokenCounts, **tokens)
    assert len(list((tmp_path / "datasets" / "ray").glob("*.arrow"))) == 2  # both steps ran on Ray
    assert on_ray.to_dict() == local.map_model(ds, text_stats.TokenCounts, **tokens).to_dict()


def test_local_engine_in_processes_builds_the_same_bytes(tmp_path, write_recipe, monkeypatch) -> None:
    monkeypatch.setattr(engine_mod, "PARALLEL_MIN_ROWS", 100)  # so that 600 rows go to 2 processes
    recipe = _recipe(tmp_path, 600)
    one = _build(tmp_path, "one", {**recipe, "execution": {"num_cpus": 1}}, write_recipe)
    two = _build(tmp_path, "two", {**recipe, "execution": {"num_cpus": 2}}, write_recipe)
    assert _files(one) == _files(two)
    # datasets wrote the two processes' shards of each map beside the collected rows.
    assert list((tmp_path / "cache-two" / "datasets").glob("cache-*_00001_of_00002.arrow"))


def test_ray_without_ray_installed_is_one_line_with_the_pip_command(tmp_path, write_recipe, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'hf_ftbuilder\[ray\]'"):
        make_engine(Execution(engine="ray"), tmp_path)
    path = write_recipe({**_recipe(tmp_path, 50), "execution": {"engine": "ray"}})
    assert main(["build", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: execution.engine: ray needs the package 'ray', which is not installed; "
                   "install it with pip install 'hf_ftbuilder[ray]'"]
    assert not (tmp_path / "out").exists()


def test_execution_section_is_checked(tmp_path, write_recipe, capsys) -> None:
    path = write_recipe({**_recipe(tmp_path, 50), "execution": {"engine": "local", "address": "auto"}})
    assert main(["build", str(path), "--output", str(tmp_path / "out")]) == 2
    assert "address is for engine: ray" in capsys.readouterr().err
    path = write_recipe({**_recipe(tmp_path, 50), "execution": {"engine": "spark"}})
    assert main(["build", str(path), "--output", str(tmp_path / "out")]) == 2
    assert "execution.engine" in capsys.readouterr().err


_LOADED_IN_BACKGROUND: dict[str, bool] = {}


def _slow_load() -> str:
    import time

    time.sleep(0.5)  # long enough that a fork not waiting for it would see it unfinished
    _LOADED_IN_BACKGROUND["done"] = True
    return "loaded"


def _failing_load() -> None:
    raise ValueError("no such model")


def _saw_the_load(items: list[int]) -> list[bool]:
    return [_LOADED_IN_BACKGROUND.get("done", False) for _ in items]


def _pids(items: list[int]) -> list[int]:
    return [os.getpid() for _ in items]


def test_no_fork_while_loading_in_the_background(monkeypatch) -> None:
    """Work handed to in_background (the report's model loads) never has a process forked beside
    it: on_cores runs its ranges in threads meanwhile (same results), aside and settle wait for it,
    and its result or error stays in its future."""
    monkeypatch.setattr(engine_mod, "cores", lambda: 2)
    _LOADED_IN_BACKGROUND.clear()
    failing = engine_mod.in_background(_failing_load)
    loading = engine_mod.in_background(_slow_load)
    assert engine_mod.on_cores(_pids, list(range(10)), min_per_core=2) == [[os.getpid()] * 5] * 2  # threads
    with engine_mod.aside(_saw_the_load, [0]) as drawn:
        assert drawn.result() == [True]  # the fork waited for the load
    assert loading.result() == "loaded"
    with pytest.raises(ValueError, match="no such model"):
        failing.result()
    forked = engine_mod.on_cores(_pids, list(range(10)), min_per_core=2)
    assert len(forked) == 2 and os.getpid() not in {pid for part in forked for pid in part}
    _LOADED_IN_BACKGROUND.clear()
    engine_mod.in_background(_slow_load)
    engine_mod.settle()
    assert _LOADED_IN_BACKGROUND == {"done": True}
