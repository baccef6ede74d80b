from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import hf_ftbuilder
from hf_ftbuilder.cli import main

from .conftest import plant_corpus, recipe_dict


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    plant_corpus(tmp_path)
    return tmp_path


def _bad_build(tmp_path: Path, write_recipe, capsys, recipe: dict) -> str:
    path = write_recipe(recipe)
    out = tmp_path / "out"
    code, _, err = _run(["build", str(path), "--output", str(out), "-q"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))
    return lines[0]


def test_misspelled_key(corpus, write_recipe, capsys) -> None:
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict(dedup={"exact": True, "kepp": "first"}))
    assert line.endswith("recipe.yaml: dedup.kepp: Extra inputs are not permitted (got 'first')")


def test_wrong_type(corpus, write_recipe, capsys) -> None:
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict(output={"shard_rows": "many"}))
    assert "output.shard_rows: Input should be a valid integer" in line and "(got 'many')" in line


def test_missing_source_file(corpus, write_recipe, capsys) -> None:
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict(sources=[{"type": "csv", "path": "missing.csv"}]))
    assert line.endswith("missing.csv: file not found")


def test_malformed_jsonl_line(corpus, write_recipe, capsys) -> None:
    with (corpus / "corpus.jsonl").open("a") as fh:
        fh.write('{"text": "no closing brace"\n')
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict())
    assert line.endswith("corpus.jsonl:97: not valid JSON (Expecting ',' delimiter at column 28)")


def test_empty_corpus(corpus, write_recipe, capsys) -> None:
    (corpus / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict(sources=[{"type": "jsonl", "path": "empty.jsonl"}]))
    assert line == "error: collect: the sources gave no rows (empty corpus: jsonl:empty.jsonl)"


def test_corpus_emptied_by_cleaning(corpus, write_recipe, capsys) -> None:
    (corpus / "blank.jsonl").write_text('{"text": " ", "label": "world"}\n', encoding="utf-8")
    line = _bad_build(corpus, write_recipe, capsys, recipe_dict(sources=[{"type": "jsonl", "path": "blank.jsonl"}]))
    assert line == "error: clean: no rows left (clean: kept 0/1 (empty=1))"


def test_class_too_small(corpus, write_recipe, capsys) -> None:
    with (corpus / "corpus.jsonl").open("a") as fh:
        fh.write(json.dumps({"text": "The only gossip here.", "label": "gossip"}) + "\n")
    recipe = recipe_dict(label={"column": "label", "labels": ["world", "sports", "tech", "gossip"]})
    line = _bad_build(corpus, write_recipe, capsys, recipe)
    assert "split: class 'gossip' has 2 rows" in line


def test_debug_reraises(corpus, write_recipe) -> None:
    path = write_recipe(recipe_dict(sources=[{"type": "csv", "path": "missing.csv"}]))
    with pytest.raises(hf_ftbuilder.SourceError):
        main(["--debug", "build", str(path), "--output", str(corpus / "out")])


def test_build_prints_summary_lines(corpus, write_recipe, capsys) -> None:
    path = write_recipe(recipe_dict())
    code, out, err = _run(["build", str(path), "--output", str(corpus / "out")], capsys)
    assert code == 0
    assert f"built {corpus / 'out'} (train=72, validation=9, test=9)" in out
    assert "dedup: kept 91/94 (exact_duplicate=3)" in err
    assert "clean: kept 94/96 (empty=2)" in err


def test_validate_prints_resolved_recipe(corpus, write_recipe, capsys) -> None:
    path = write_recipe(recipe_dict())
    code, out, _ = _run(["validate", str(path)], capsys)
    assert code == 0
    resolved = yaml.safe_load(out)
    # Only the keys of the split's method (stratified), method first.
    assert list(resolved["split"]) == ["method", "fractions", "rare_classes"]
    assert resolved["split"] == {"method": "stratified", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                                 "rare_classes": "error"}
    assert list(resolved["label"]) == ["method", "labels", "column"]
    assert resolved["leakage"] == {"enabled": True, "threshold": 0.5, "embedding": False, "embedding_threshold": 0.95,
                                   "action": "report", "examples": 3}
    assert resolved["sources"][0]["text_column"] == "text"


def test_validate_reports_errors(corpus, write_recipe, capsys) -> None:
    path = write_recipe(recipe_dict(split={"method": "chronological"}))
    code, out, err = _run(["validate", str(path)], capsys)
    assert code == 2 and out == ""
    assert "split.method: unknown method (got 'chronological'); expected one of 'stratified', 'random', 'time', 'group'" in err


def test_console_script_version() -> None:
    exe = Path(sys.executable).with_name("ftbuild")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"ftbuild {hf_ftbuilder.__version__}"


@pytest.mark.parametrize("command", [
    ["build", "r.yaml"], ["crawl", "r.yaml"], ["label", "export", "r.yaml"], ["push", "out", "--repo-id", "o/n"],
    ["card", "out"], ["validate", "r.yaml"],
])
def test_verbosity_and_debug_work_before_or_after_every_command(command: list[str]) -> None:
    from hf_ftbuilder.cli import _parser

    after = _parser().parse_args([*command, "-q", "--debug"])
    before = _parser().parse_args(["-q", "--debug", *command])
    plain = _parser().parse_args(command)
    assert (after.quiet, after.debug, after.verbose) == (before.quiet, before.debug, before.verbose) == (True, True, False)
    assert (plain.quiet, plain.debug, plain.verbose) == (False, False, False)
    assert _parser().parse_args(["-v", *command]).verbose and _parser().parse_args([*command, "-v"]).verbose


def test_one_class_left_is_one_line_before_any_model_runs(corpus, write_recipe, capsys) -> None:
    line = _bad_build(corpus, write_recipe, capsys,
                      recipe_dict(label={"method": "column", "column": "label", "labels": ["world"]}))
    assert line == ("error: label: only 'world' has rows after labelling (world: 30); 61 rows dropped as "
                    "unknown_label (values of 'label' not in label.labels, e.g. 'sports', 'tech', 'gossip'); "
                    "a classification dataset needs at least two")


def test_all_labels_unknown_is_one_line(corpus, write_recipe, capsys) -> None:
    line = _bad_build(corpus, write_recipe, capsys,
                      recipe_dict(label={"method": "column", "column": "label", "labels": ["spam", "ham"]}))
    assert line == ("error: label: no class has rows after labelling (spam: 0; ham: 0); 91 rows dropped as "
                    "unknown_label (values of 'label' not in label.labels, e.g. 'world', 'sports', 'tech'); "
                    "a classification dataset needs at least two")


def test_dropped_labels_are_one_warning_with_examples(corpus, write_recipe, capsys, tmp_path) -> None:
    path = write_recipe(recipe_dict())
    code, _, err = _run(["build", str(path), "--output", str(tmp_path / "out"), "-q"], capsys)
    assert code == 0
    assert err.splitlines() == [
        "label: 1 row dropped as unknown_label (values of 'label' not in label.labels, e.g. 'gossip')"]


def test_an_interrupt_names_a_resume_only_when_there_is_one(corpus, write_recipe) -> None:
    import argparse

    from hf_ftbuilder.cli import _what_stands

    files = write_recipe(recipe_dict())
    web = write_recipe({**recipe_dict(), "sources": [{"type": "urls", "urls": ["http://127.0.0.1:9/a"]}]}, "web.yaml")
    assert _what_stands(argparse.Namespace(command="build", recipe=str(files))) == (
        "nothing was written; run the same command again to start over")
    assert _what_stands(argparse.Namespace(command="build", recipe=str(web))).startswith(
        "the pages fetched so far are in the fetch cache")
    assert _what_stands(argparse.Namespace(command="push", output="out")).startswith("the Hub keeps its last")


def test_an_output_path_through_a_missing_folder_leaves_no_empty_folder(corpus, write_recipe, capsys) -> None:
    path = write_recipe(recipe_dict())
    code, _, _ = _run(["build", str(path), "--output", str(corpus / "a" / "missing" / ".." / "b"), "--until",
                       "clean", "-q"], capsys)
    assert code == 0
    assert (corpus / "a" / "b" / "quality.json").is_file()
    assert not (corpus / "a" / "missing").exists()


def test_a_recipe_with_a_key_given_twice_is_one_line(corpus, capsys) -> None:
    path = corpus / "recipe.yaml"
    path.write_text("name: x\nseed: 1\nsources: [{type: jsonl, path: corpus.jsonl}]\nlabel: {method: column}\n"
                    "seed: 2\n", encoding="utf-8")
    code, _, err = _run(["build", str(path), "-o", str(corpus / "out"), "-q"], capsys)
    assert code == 2
    assert err.splitlines() == [f"error: {path}: not valid YAML (key 'seed' given twice (lines 2 and 5))"]
    assert not (corpus / "out").exists()
