"""Write: a kill at any step keeps a whole build at the output path; --overwrite replaces only a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.atomic_dir import CRASH_POINTS, recover
from hf_ftbuilder.cli import main

from .conftest import LIGHT_REPORT, plant_corpus, recipe_dict


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _same_build(folder: Path) -> dict[str, object]:
    """The files of a build, with quality.json's timings (its run section) left out."""
    files: dict[str, object] = dict(_files(folder))
    quality = json.loads(files.pop("quality.json"))
    quality.pop("run")
    files["quality.json"] = quality
    return files


def _loadable(folder: Path) -> int:
    """Rows of a complete build: the card's split sizes agree with the parquet files."""
    quality = json.loads((folder / "quality.json").read_text(encoding="utf-8"))
    rows = 0
    for split, entry in quality["splits"].items():
        found = sum(pq.read_metadata(f).num_rows for f in (folder / "data").glob(f"{split}-*.parquet"))
        assert found == entry["num_rows"], split
        rows += found
    assert set(quality["files"]) == set(_files(folder))
    return rows


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


@pytest.fixture
def recipe(tmp_path: Path, write_recipe) -> Path:
    plant_corpus(tmp_path)
    return write_recipe(recipe_dict(report=LIGHT_REPORT))


# The two-renames fallback (kernels without renameat2) is the slow variant: the same kill points.
@pytest.mark.parametrize("exchange", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["renameat2", "two-renames"])
def test_a_kill_at_any_step_leaves_a_whole_build_and_the_next_build_cleans_up(recipe: Path, tmp_path: Path,
                                                                              exchange: bool) -> None:
    out = tmp_path / "out"
    hf_ftbuilder.build(recipe, output_dir=out)
    first = _same_build(out)
    env = {**os.environ, "FTBUILD_NO_EXCHANGE": "" if exchange else "1"}
    points = [p for p in CRASH_POINTS if (p in ("between_renames", "after_renames")) != exchange]
    for point in points:
        killed = subprocess.run([sys.executable, "-m", "hf_ftbuilder", "build", str(recipe), "-o", str(out),
                                 "--overwrite", "-q"], env={**env, "FTBUILD_CRASH_AT": point},
                                capture_output=True, text=True, timeout=300)
        assert killed.returncode == -9, (point, killed.stderr)
        if point == "between_renames":  # the one instant with no folder at the path: the next build restores it
            assert not out.exists()
            old, tmp = sorted(_hidden(out))  # .out.old-PID (the previous build), .out.tmp-PID (the new one)
            assert recover(out) == [
                f"restored the previous build at {out} from {old} (a build was stopped while replacing it)",
                f"removed {tmp} beside {out}, left by a build that was stopped"]
        assert _loadable(out) == 90, point
    # The next build removes what the kills left and writes the same files.
    assert _hidden(out)
    hf_ftbuilder.build(recipe, output_dir=out, overwrite=True)
    assert _hidden(out) == []
    assert _same_build(out) == first


def _refused(argv: list[str], capsys) -> str:
    capsys.readouterr()  # what an earlier build in the test logged
    code = main([*argv, "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_overwrite_refuses_a_folder_that_holds_the_recipe(recipe: Path, tmp_path: Path, capsys) -> None:
    before = _files(tmp_path)
    line = _refused(["build", str(recipe), "-o", str(tmp_path), "--overwrite"], capsys)
    assert line == (f"error: output folder {tmp_path} holds the recipe ({recipe}); refusing to write there: "
                    "choose a folder of its own")
    assert _files(tmp_path) == before


def test_output_dot_from_inside_an_earlier_build_is_refused(recipe: Path, tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    out = tmp_path / "out"
    hf_ftbuilder.build(recipe, output_dir=out)
    before = _files(out)
    monkeypatch.chdir(out)
    line = _refused(["build", str(recipe), "-o", ".", "--overwrite"], capsys)
    assert line == "error: output folder . is the folder you are in (or holds it); build into a folder beside it"
    assert _files(out) == before


def test_overwrite_refuses_a_build_folder_with_one_foreign_file(recipe: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    hf_ftbuilder.build(recipe, output_dir=out)
    (out / "data" / "my_notes.txt").write_text("mine", encoding="utf-8")
    before = _files(out)
    line = _refused(["build", str(recipe), "-o", str(out), "--overwrite"], capsys)
    assert line == (f"error: output folder {out} holds 'data/my_notes.txt', which no build wrote; "
                    "refusing to replace it (move that file out, or build elsewhere)")
    assert _files(out) == before


def test_an_output_folder_inside_the_inputs_or_the_cache_is_refused(tmp_path: Path, write_recipe, capsys) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("one note", encoding="utf-8")
    recipe = write_recipe({**recipe_dict(report=LIGHT_REPORT), "sources": [{"type": "text_dir", "path": "notes"}],
                           "label": None})
    before = _files(tmp_path)
    line = _refused(["build", str(recipe), "-o", str(tmp_path / "notes" / "out"), "--until", "dedup"], capsys)
    assert line == (f"error: output folder {tmp_path / 'notes' / 'out'} lies inside the input folder "
                    f"({tmp_path / 'notes'}); choose a folder outside it")
    line = _refused(["build", str(recipe), "-o", str(tmp_path / ".ftbuild" / "planted" / "x"), "--until", "dedup"],
                    capsys)
    assert "lies inside the cache" in line
    assert _files(tmp_path) == before


def test_a_sibling_folder_beside_the_recipe_is_fine(recipe: Path, tmp_path: Path) -> None:
    result = hf_ftbuilder.build(recipe, output_dir=tmp_path / "out")
    assert _loadable(result.output_dir) == 90
    assert yaml.safe_load((result.output_dir / "recipe.yaml").read_text())["name"] == "planted"
