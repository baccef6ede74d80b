from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import ClassLabel, load_dataset

import hf_ftbuilder
from hf_ftbuilder import write as write_module
from hf_ftbuilder.errors import ConfigError, OutputError

from .conftest import DATA, LIGHT_REPORT, TOPICS, plant_corpus, recipe_dict


@pytest.fixture
def planted(tmp_path: Path, write_recipe) -> tuple[Path, dict[str, list[int]]]:
    plants = plant_corpus(tmp_path)
    return write_recipe(recipe_dict()), plants


def test_build_end_to_end(planted, tmp_path: Path) -> None:
    recipe_path, plants = planted
    out = tmp_path / "out"
    result = hf_ftbuilder.build(recipe_path, output_dir=out)
    assert result.output_dir == out
    # Rows kept for dropped/ are copies, not selections that keep a stage's whole table mapped.
    kept_for_later = [st.dropped_rows for st in result.stages if st.dropped_rows is not None]
    assert kept_for_later and all(rows._indices is None for rows in kept_for_later)

    dd = load_dataset(str(out))
    assert list(dd) == ["train", "validation", "test"]
    assert dd["train"].features["label"] == ClassLabel(names=TOPICS)
    quality = json.loads((out / "quality.json").read_text())
    card = (out / "README.md").read_text()
    card_yaml = yaml.safe_load(card.split("---\n")[1])
    declared = {s["name"]: s["num_examples"] for s in card_yaml["dataset_info"]["splits"]}
    for name, ds in dd.items():
        assert ds.num_rows == quality["splits"][name]["num_rows"] == declared[name]
    assert sum(ds.num_rows for ds in dd.values()) == 90
    assert {name: q["label_counts"] for name, q in quality["splits"].items()} == {
        "train": {"world": 24, "sports": 24, "tech": 24},
        "validation": {"world": 3, "sports": 3, "tech": 3},
        "test": {"world": 3, "sports": 3, "tech": 3},
    }
    ids = [i for ds in dd.values() for i in ds["id"]]
    assert len(ids) == len(set(ids))
    assert sorted(g for ds in dd.values() for g in ds["gold"]) == list(range(90))  # pass-through column
    assert dd["train"].column_names[:6] == ["id", "text", "source", "label", "label_score", "label_source"]

    stages = {s["name"]: s for s in quality["stages"]}
    assert [s["name"] for s in quality["stages"]] == list(hf_ftbuilder.STAGES[:-1])
    assert stages["clean"]["dropped"] == {"empty": 2}
    assert stages["dedup"]["dropped"] == {"exact_duplicate": 3}
    assert stages["label"]["dropped"] == {"unknown_label": 1}
    first_dup = pq.read_table(out / "dropped" / "dedup.parquet").column("id")[0].as_py()
    assert f'| dedup | 94 | 91 | exact_duplicate: 3 (e.g. `{first_dup}` "STORY 0 ABOUT WORLD: ITEM 0 HAPPENED.") |' in card
    assert re.search(r"\| clean \| 96 \| 94 \| empty: 2 \(e\.g\. `[0-9a-f]{16}`\) \|", card)

    dropped = pq.read_table(out / "dropped" / "dedup.parquet").to_pylist()
    assert [r["gold"] for r in dropped] == [-1, -1, -1]
    assert [r["drop_reason"] for r in dropped] == ["exact_duplicate"] * 3
    kept_ids = {r["id"]: r for ds in dd.values() for r in ds}
    assert [kept_ids[r["dup_of"]]["gold"] for r in dropped] == [0, 4, 8]
    assert sorted(p.name for p in (out / "dropped").iterdir()) == ["clean.parquet", "dedup.parquet", "label.parquet"]
    assert not list(tmp_path.glob(".out.*"))  # no temporary folder left


def test_same_recipe_same_bytes(planted, tmp_path: Path) -> None:
    recipe_path, _ = planted
    a = hf_ftbuilder.build(recipe_path, output_dir=tmp_path / "a").output_dir
    b = hf_ftbuilder.build(recipe_path, output_dir=tmp_path / "b").output_dir
    files = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert len(files) == 6
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "README.md").read_bytes() == (b / "README.md").read_bytes()
    qa, qb = (json.loads((d / "quality.json").read_text()) for d in (a, b))
    qa.pop("run"), qb.pop("run")
    assert qa == qb


def test_run_section_and_log_give_each_stage_time_rate_and_peak_memory(planted, tmp_path: Path, caplog) -> None:
    recipe_path, _ = planted
    with caplog.at_level("INFO", logger="hf_ftbuilder"):
        quality = hf_ftbuilder.build(recipe_path, output_dir=tmp_path / "out").quality
    run = quality["run"]
    names = [s["name"] for s in quality["stages"]]
    assert names == ["collect", "extract", "clean", "dedup", "label", "split", "balance", "report"]
    assert json.loads((tmp_path / "out" / "quality.json").read_text())["run"] == run  # as written
    assert list(run["stages"]) == names and list(run["stage_seconds"]) == names  # write is in the log only
    for name, figures in run["stages"].items():
        assert figures["seconds"] == run["stage_seconds"][name] >= 0
        assert 0 < figures["peak_rss_mb"] <= run["peak_rss_mb"]
        rate = figures["rows_per_second"]
        rows_in = quality["stages"][names.index(name)]["rows_in"]
        if figures["seconds"] >= 0.05:  # seconds are rounded to the millisecond
            assert rate == pytest.approx(rows_in / figures["seconds"], rel=0.02)
        else:
            assert rate is None or rate > 0
    assert run["total_seconds"] >= sum(run["stage_seconds"].values())
    # The light report computes two figures; each one's cost is there.
    assert list(run["report"]) == ["lexical_diversity", "size"]
    assert sum(f["seconds"] for f in run["report"].values()) <= run["stage_seconds"]["report"]
    lines = {r.getMessage().split(":")[0]: r.getMessage() for r in caplog.records if "peak RSS" in r.getMessage()}
    assert sorted(lines) == sorted([*names, "write"])
    assert re.fullmatch(r"dedup: kept \d+/\d+ .*\(\d+\.\d s, ([\d,]+|-) rows/s, peak RSS \d+ MB\)", lines["dedup"])


def test_other_seed_gives_other_split(planted, tmp_path: Path, write_recipe) -> None:
    a = hf_ftbuilder.build(write_recipe(recipe_dict(seed=1), "a.yaml"), output_dir=tmp_path / "a")
    b = hf_ftbuilder.build(write_recipe(recipe_dict(seed=2), "b.yaml"), output_dir=tmp_path / "b")
    assert a.dataset["test"]["id"] != b.dataset["test"]["id"]
    assert a.quality["recipe_fingerprint"] != b.quality["recipe_fingerprint"]


def test_until_writes_one_train_split(planted, tmp_path: Path) -> None:
    recipe_path, _ = planted
    out = tmp_path / "until"
    result = hf_ftbuilder.build(recipe_path, output_dir=out, until="clean")
    dd = load_dataset(str(out))
    assert list(dd) == ["train"]
    assert dd["train"].num_rows == 94
    assert dd["train"]["label"][:3] == ["world", "sports", "tech"]  # raw labels, no ClassLabel yet
    assert [s["name"] for s in result.quality["stages"]] == ["collect", "extract", "clean", "report"]
    assert result.quality["until"] == "clean"
    assert "stopped after the **clean** stage" in (out / "README.md").read_text()
    assert "peek" not in result.quality  # the light report loads no model anyway


def test_a_peek_loads_no_model(tmp_path: Path, write_recipe) -> None:
    plant_corpus(tmp_path)
    # Token counts and semantic diversity on (the defaults): a build stopped at dedup leaves them out.
    report = {**recipe_dict()["report"], "tokenizer": None, "diversity_sample": 50}
    result = hf_ftbuilder.build(write_recipe(recipe_dict(report=report)), output_dir=tmp_path / "peek", until="dedup")
    quality = result.quality
    assert quality["peek"] == {"left_out": ["tokens", "semantic_diversity"]}
    assert "tokens" not in quality["size"]["splits"]["train"] and "semantic" not in quality["diversity"]
    assert list(quality["run"]["report"]) == ["lexical_diversity", "size"]
    card = (tmp_path / "peek" / "README.md").read_text()
    assert "The figures that load a model (tokens, semantic diversity) are left out of such a peek" in card


def test_recipe_without_label_needs_until(tmp_path: Path, write_recipe) -> None:
    plant_corpus(tmp_path)
    recipe = recipe_dict()
    del recipe["label"]
    path = write_recipe(recipe)
    with pytest.raises(ConfigError, match="the recipe has no label section"):
        hf_ftbuilder.build(path, output_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "x", until="dedup")
    assert result.dataset["train"].num_rows == 91


def test_existing_output_needs_overwrite(planted, tmp_path: Path) -> None:
    recipe_path, _ = planted
    out = tmp_path / "out"
    hf_ftbuilder.build(recipe_path, output_dir=out)
    with pytest.raises(OutputError, match=r"output folder .*out exists; pass --overwrite or set output.overwrite: true"):
        hf_ftbuilder.build(recipe_path, output_dir=out)
    hf_ftbuilder.build(recipe_path, output_dir=out, overwrite=True)


def test_overwrite_refuses_a_folder_that_is_not_a_build(planted, tmp_path: Path) -> None:
    recipe_path, _ = planted
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="is not an hf_ftbuilder build"):
        hf_ftbuilder.build(recipe_path, output_dir=precious, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_failure_while_writing_keeps_the_earlier_output(planted, tmp_path: Path, monkeypatch) -> None:
    recipe_path, _ = planted
    out = tmp_path / "out"
    hf_ftbuilder.build(recipe_path, output_dir=out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken_card(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(write_module, "render_card", broken_card)
    with pytest.raises(RuntimeError, match="disk on fire"):
        hf_ftbuilder.build(recipe_path, output_dir=out, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ftbuild", "corpus.jsonl", "out", "recipe.yaml"]


def test_shards_follow_shard_rows(planted, tmp_path: Path, write_recipe) -> None:
    path = write_recipe(recipe_dict(output={"shard_rows": 25}), "sharded.yaml")
    out = tmp_path / "sharded"
    hf_ftbuilder.build(path, output_dir=out)
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00003.parquet",
        "train-00001-of-00003.parquet",
        "train-00002-of-00003.parquet",
        "validation-00000-of-00001.parquet",
    ]
    assert load_dataset(str(out))["train"].num_rows == 72


def test_html_and_csv_sources_together(tmp_path: Path, write_recipe) -> None:
    shutil.copytree(DATA / "html" / "pages", tmp_path / "pages")
    (tmp_path / "notes.csv").write_text("text,label\nA short note that is long enough.,note\n", encoding="utf-8")
    path = write_recipe({
        "name": "mixed",
        "sources": [{"type": "html_dir", "path": "pages"}, {"type": "csv", "path": "notes.csv"}],
        "report": LIGHT_REPORT,
    })
    result = hf_ftbuilder.build(path, output_dir=tmp_path / "mixed", until="dedup")
    train = load_dataset(str(tmp_path / "mixed"))["train"]
    assert train.num_rows == 5
    assert train["language"] == ["en", "en", "de", "en", None]
    assert train["source"] == ["html_dir:pages"] * 4 + ["csv:notes.csv"]
    assert train["file"][:4] == ["001.html.gz", "daringfireball-1.html.gz", "heise.html.gz", "medium-2.html.gz"]
    # Without a label section the input's `label` column is not the label: it is kept as source_label.
    assert train.column_names == ["id", "text", "source", "url", "title", "author", "date", "sitename",
                                  "language", "file", "dup_cluster", "dup_count", "source_label"]
    assert train["source_label"] == [None] * 4 + ["note"]
    assert result.quality["stages"][0]["details"]["sources"] == [
        {"type": "html_dir", "path": "pages", "rows": 4},
        {"type": "csv", "path": "notes.csv", "rows": 1},
    ]


def test_cached_rows_are_keyed_by_content_and_code(tmp_path: Path, make_dataset, monkeypatch) -> None:
    from hf_ftbuilder import arrow_cache

    first = arrow_cache.persist(make_dataset(["same rows"]), tmp_path, "collect")
    again = arrow_cache.persist(make_dataset(["same rows"]), tmp_path, "collect")
    other = arrow_cache.persist(make_dataset(["other rows"]), tmp_path, "collect")
    monkeypatch.setattr(arrow_cache, "code_fingerprint", lambda: "f" * 64)  # an upgraded hf_ftbuilder
    upgraded = arrow_cache.persist(make_dataset(["same rows"]), tmp_path, "collect")
    names = [Path(d.cache_files[0]["filename"]).name for d in (first, again, other, upgraded)]
    assert names[0] == names[1] and len(set(names)) == 3
    assert names[3].startswith("collect-ffffffff-")
    assert upgraded["text"] == ["same rows"]


def test_a_csv_date_column_drives_a_time_split_with_the_default_time_column(tmp_path: Path, write_recipe) -> None:
    lines = ["text,label,date"] + [f"note {i} about thing {i * 13},{'ab'[i % 2]},2024-01-{i + 1:02d}" for i in range(20)]
    (tmp_path / "notes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    recipe = write_recipe({
        "name": "dated", "sources": [{"type": "csv", "path": "notes.csv"}],
        "label": {"method": "column", "labels": ["a", "b"]},
        "split": {"method": "time", "fractions": {"train": 0.6, "validation": 0.2, "test": 0.2}},
        "report": LIGHT_REPORT,
    })
    dd = hf_ftbuilder.build(recipe, output_dir=tmp_path / "out").dataset
    assert {name: (min(ds["date"]), max(ds["date"])) for name, ds in dd.items()} == {
        "train": ("2024-01-01", "2024-01-12"), "validation": ("2024-01-13", "2024-01-16"),
        "test": ("2024-01-17", "2024-01-20")}
    assert "source_date" not in dd["train"].column_names


def test_a_path_outside_the_recipes_folder_is_read_and_said_once(tmp_path: Path, caplog) -> None:
    (tmp_path / "data").mkdir()
    plant_corpus(tmp_path / "data")
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(sources=[{"type": "jsonl", "path": "../data/corpus.jsonl"}])),
                      encoding="utf-8")
    with caplog.at_level("WARNING", logger="hf_ftbuilder"):
        hf_ftbuilder.build(recipe, output_dir=tmp_path / "out", until="collect")
    said = [r.getMessage() for r in caplog.records if "outside the recipe's folder" in r.getMessage()]
    assert said == [f"sources[0].path reads {tmp_path / 'data' / 'corpus.jsonl'}, outside the recipe's folder"]
