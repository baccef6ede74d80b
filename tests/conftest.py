"""Shared fixtures: a private ``datasets`` cache, no progress bars, and small factories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml
from hypothesis import settings

from hf_ftbuilder.embedder import Embedder

from .tiny_models import build_tiny_nli

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


# --- shared builders ------------------------------------------------------------------------------

#: The planted topic corpus of the pipeline, CLI and write tests.
TOPICS = ["world", "sports", "tech"]


def plant_corpus(folder: Path) -> dict[str, list[int]]:
    """30 distinct rows per topic, then planted noise; returns the line numbers of each plant."""
    lines = []
    for i in range(90):
        topic = TOPICS[i % 3]
        lines.append({"text": f"Story {i} about {topic}: item {i * 7} happened.", "label": topic, "gold": i})
    plants = {"exact_duplicate": [], "empty": [], "unknown_label": []}
    for src in (0, 4, 8):  # case and spacing variants of earlier rows
        plants["exact_duplicate"].append(len(lines))
        lines.append({"text": "  " + lines[src]["text"].upper() + "  ", "label": lines[src]["label"], "gold": -1})
    for _ in range(2):
        plants["empty"].append(len(lines))
        lines.append({"text": " <br> &nbsp; ", "label": "world", "gold": -2})
    plants["unknown_label"].append(len(lines))
    lines.append({"text": "A story with a label nobody asked for.", "label": "gossip", "gold": -3})
    (folder / "corpus.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return plants


def recipe_dict(**overrides) -> dict:
    recipe = {
        "name": "planted",
        "seed": 13,
        "sources": [{"type": "jsonl", "path": "corpus.jsonl"}],
        "label": {"method": "column", "column": "label", "labels": TOPICS},
        "card": {"pretty_name": "Planted topics", "license": "cc0-1.0", "language": ["en"]},
        "report": LIGHT_REPORT,
    }
    recipe.update(overrides)
    return recipe



# --- the models, loaded once a session ----------------------------------------------------------

SENTENCES = {
    "sports": [
        "The striker scored twice as the home team won the league match.",
        "The coach praised his players after the football final.",
        "She won the tennis championship in three sets.",
        "The basketball team lost in overtime after a late three-pointer.",
        "Fans filled the stadium for the derby on Saturday.",
        "The goalkeeper saved a penalty in the last minute of the game.",
        "The marathon runner broke the course record by a minute.",
        "The cricket side declared after scoring four hundred runs.",
    ],
    "cooking": [
        "Bake the bread in a hot oven until the crust is golden.",
        "Whisk the eggs with sugar and fold in the flour gently.",
        "Simmer the tomato sauce with garlic and fresh basil.",
        "This recipe for chocolate cake needs butter and cocoa.",
        "Season the soup with salt and pepper before serving.",
        "Knead the dough for ten minutes and let it rise.",
        "Roast the vegetables with olive oil and rosemary.",
        "Chop the onions finely and fry them until soft.",
    ],
    "space": [
        "The rocket carried a new satellite into orbit around Earth.",
        "Astronauts on the space station ran experiments in microgravity.",
        "The telescope photographed a distant galaxy.",
        "NASA plans to land a crew on the Moon again.",
        "The probe sent back images of the surface of Mars.",
        "A comet will pass close to the Sun next spring.",
        "The launch was delayed by high winds at the spaceport.",
        "Scientists found a planet orbiting a nearby star.",
    ],
}
SENTENCE_TOPICS = list(SENTENCES)


@pytest.fixture(scope="session")
def minilm(tmp_path_factory) -> Embedder:
    """The offline MiniLM, loaded once for the session, with its own vector cache."""
    return Embedder(cache_dir=tmp_path_factory.mktemp("embed-cache"), progress=False)


#: The classes of the tiny NLI models and the words that mark a text as each.
NLI_KEYWORDS = {
    "sports": ["football", "goal"],
    "business": ["stocks", "market"],
    "science": ["atoms", "physics"],
    "politics": ["election", "senate"],
}


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory) -> Path:
    return build_tiny_nli(tmp_path_factory.mktemp("tiny-nli"), NLI_KEYWORDS)


@pytest.fixture(scope="session")
def tiny_nli_multi(tmp_path_factory) -> Path:
    """The tiny NLI model also trained on texts with keywords of two classes (both labels with
    ``multi_label=True``), and on texts without a keyword as contradicting every class (no label)."""
    return build_tiny_nli(tmp_path_factory.mktemp("tiny-nli-multi"), NLI_KEYWORDS, multi=True)


def topic_corpus(folder: Path) -> list[dict]:
    rows = [{"text": t, "gold": topic} for k in range(8) for topic in SENTENCE_TOPICS for t in [SENTENCES[topic][k]]]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows


# --- near-duplicate texts (dedup and minhash) ----------------------------------------------------

#: A 110-word news paragraph that near copies are made of.
BASE = ("The committee met on Tuesday to review the bridge plan, which has been debated for months by residents "
        "who want more detail about the timetable, the cost and the closures that the works will bring to the "
        "old town and to the river path that runs beside it. Engineers told the meeting that the supports are "
        "older than the records show, that divers found cracks in two of the piers last winter, and that a "
        "temporary crossing could open in the spring if the county agrees to share the cost with the city and "
        "the contractor can find enough steel before the summer.")


def edit(text: str, positions: list[int], word: str = "zebra") -> str:
    """The text with the words at ``positions`` replaced by ``word``."""
    words = text.split()
    for p in positions:
        words[p] = word
    return " ".join(words)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line when the browser tests could not run (no Chromium), saying how to run them."""
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "browser tests not run" in reason:
            terminalreporter.write_line(reason.removeprefix("Skipped: "))
            return
