"""A light install (`pip install hf_ftbuilder`, no extras) builds a column-labelled dataset without torch.

These checks install the package into fresh virtual environments, so they need the package index
and minutes: `make check-install` runs them (and `.ci/run` calls it), not `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

pytestmark = pytest.mark.install

# What a source checkout holds that an install must not copy (built or local state).
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", ".ftbuild", "__pycache__", "*.egg-info", ".pytest_cache",
                                     ".hypothesis", "dist")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800, **kwargs)


def _venv(path: Path) -> Path:
    base = getattr(sys, "_base_executable", sys.executable)
    made = _run([base, "-m", "venv", str(path)])
    assert made.returncode == 0, made.stderr
    return path / "bin"


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A venv with `pip install <source>` and nothing else, and the source it was installed from."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    bin_dir = _venv(root / "light")
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(source)])
    assert installed.returncode == 0, installed.stderr
    return bin_dir, source


def test_the_core_install_has_no_torch_transformers_or_matplotlib(light) -> None:
    bin_dir, _ = light
    for package in ("torch", "transformers", "matplotlib", "ray"):
        probe = _run([str(bin_dir / "python"), "-c", f"import {package}"])
        assert probe.returncode == 1 and "ModuleNotFoundError" in probe.stderr, package


def test_a_column_labelled_build_works_and_says_what_it_left_out(light, tmp_path: Path) -> None:
    bin_dir, source = light
    out = tmp_path / "demo"
    built = _run([str(bin_dir / "ftbuild"), "build", str(source / "dataset_scripts" / "demo.yaml"), "-o", str(out)])
    assert built.returncode == 0, built.stderr
    quality = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert quality["left_out"] == {"tokens": "models", "semantic_diversity": "models", "plots": "plots"}
    assert quality["splits"]["train"]["num_rows"] == 4049  # the same rows as the full install's demo
    assert "baseline" in quality and "tokens" not in quality["size"]["total"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert ("Left out of this report because a package is not installed: tokens (`pip install "
            "'hf_ftbuilder[models]'`), semantic diversity (`pip install 'hf_ftbuilder[models]'`), plots "
            "(`pip install 'hf_ftbuilder[plots]'`).") in card
    assert not (out / "images").exists()


def test_a_zero_shot_recipe_names_the_extra_to_install(light, tmp_path: Path) -> None:
    bin_dir, source = light
    recipe = yaml.safe_load((source / "dataset_scripts" / "demo.yaml").read_text(encoding="utf-8"))
    recipe["sources"][0]["path"] = str(source / "dataset_scripts" / "data" / "sms_spam.csv")
    recipe["label"] = {"method": "zero_shot", "model": "some/nli-model", "labels": ["ham", "spam"]}
    (tmp_path / "zs.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run = _run([str(bin_dir / "ftbuild"), "build", str(tmp_path / "zs.yaml"), "-o", str(tmp_path / "out")])
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "error: label.method: zero_shot needs the package 'torch', which is not installed; install it with "
        "pip install 'hf_ftbuilder[models]'"
    ]
    assert not (tmp_path / "out").exists()


def test_setuptools_77_builds_it_without_build_isolation(light) -> None:
    bin_dir, source = light
    pinned = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "setuptools==77.0.3"])
    assert pinned.returncode == 0, pinned.stderr
    built = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-build-isolation", str(source)])
    assert built.returncode == 0, built.stderr
    meta = _run([str(bin_dir / "python"), "-c",
                 "from importlib.metadata import metadata; m = metadata('hf_ftbuilder');"
                 "print(m['License-Expression'], m.get_all('License-File'))"])
    assert meta.stdout.strip() == "Apache-2.0 ['LICENSE']", meta.stderr
