"""The wheel ships the package, its py.typed marker, the card templates, the synonym lexicon and the licence."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO


def test_wheel_contains_card_templates_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hf_ftbuilder-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hf_ftbuilder/cards/dataset_card.md" in names
    assert "hf_ftbuilder/py.typed" in names
    assert "hf_ftbuilder/pipeline.py" in names
    assert "hf_ftbuilder/split/synonyms.tsv" in names  # the augmentation lexicon
    assert "hf_ftbuilder/label/zero_shot.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)  # PEP 639: the licence file ships
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Provides-Extra: models" in metadata and "Requires-Dist: torch>=2.4; extra == \"models\"" in metadata
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ftbuild = hf_ftbuilder.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
