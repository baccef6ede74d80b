"""The review page in a real browser: Debian's Chromium, headless, driven by Playwright.

Without Chromium these tests are not run and the session's summary says so in one line (CI
installs it). ``FTBUILD_SCREENSHOTS=DIR`` saves a screenshot of each queue there (the README's
pictures in ``docs/`` come from this test).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from hf_ftbuilder.decisions import read_cluster_mapping

from .conftest import HOSTILE, TOPICS, private_copy, topic_of

CHROMIUM = os.environ.get("FTBUILD_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("FTBUILD_SCREENSHOTS")
# A closed network: no background fetches, no update checks (each would be refused, slowly).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"browser tests not run: no Chromium at {CHROMIUM} (apt-get install -y chromium, then make test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``ftbuild review`` in a process of its own, as a person starts it; yields the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "hf_ftbuilder", "review", str(folder / "recipe.yaml"), "--output",
                             str(folder / "out"), "--no-browser", "--annotator", "ana"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, proc.stderr.read()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", state="attached")


def settled(page) -> None:
    page.wait_for_selector("body:not([data-busy])", state="attached")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"review-{name}.png"))


def rebuild(page) -> None:
    page.click("#rebuild")
    page.wait_for_selector("#rebuild-status:text-matches('^(Rebuilt|Rebuild failed)$')", timeout=180_000)
    status = page.inner_text("#rebuild-status")
    assert status == "Rebuilt", page.inner_text("#rebuild-log")


def test_name_clusters_relabel_rows_reload_and_rebuild(browser, kmeans_project: Path) -> None:
    folder = kmeans_project
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with serving(folder) as url:
        page.goto(url)
        ready(page)
        assert page.get_attribute("button.tab.active", "data-queue") == "clusters"
        banner = page.inner_text("#banner")
        assert "cluster_names: recipe.clusters.yaml" in banner and "annotations: recipe.annotations.csv" in banner
        shot(page, "clusters")

        # 1. Name every cluster with the keyboard: the digit of its topic (labels are in TOPICS order).
        named = {}
        for _ in range(3):
            card = page.query_selector("article.item.current")
            cluster = int(card.get_attribute("data-id"))
            named[cluster] = topic_of(page.inner_text("article.item.current"))
            page.keyboard.press(str(TOPICS.index(named[cluster]) + 1))
            settled(page)
        assert sorted(named.values()) == sorted(TOPICS)
        assert read_cluster_mapping(folder / "recipe.clusters.yaml") == named
        assert page.inner_text("button.tab[data-queue=clusters] .tab-count") == "3/3"

        # 2. The person adds the two lines the page asked for, then rebuilds from the page.
        recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
        recipe["label"].update({"cluster_names": "recipe.clusters.yaml", "annotations": "recipe.annotations.csv"})
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        rebuild(page)

        # 3. The rows below min_score now wait for a label: relabel five with the keyboard.
        page.click("button.tab[data-queue=rows]")
        settled(page)
        page.wait_for_selector("article.item.current")
        count = int(page.inner_text("button.tab[data-queue=rows] .tab-count").split("/")[1])
        assert count >= 5
        decided = {}
        for _ in range(5):
            row_id = page.get_attribute("article.item.current", "data-id")
            decided[row_id] = topic_of(page.inner_text("article.item.current .text"))
            page.keyboard.press(str(TOPICS.index(decided[row_id]) + 1))
            settled(page)
        shot(page, "rows")

        # 4. A reload shows the decisions as they were made.
        page.reload()
        ready(page)
        page.click("button.tab[data-queue=rows]")
        page.wait_for_selector("article.item.current")
        settled(page)
        assert page.inner_text("button.tab[data-queue=rows] .tab-count") == f"5/{count}"
        for row_id, label in decided.items():
            chosen = page.query_selector_all(f"article.item[data-id='{row_id}'] button.label.chosen")
            assert [b.get_attribute("data-label") for b in chosen] == [label]

        # 5. Rebuild again: the rows are in the dataset with the people's labels.
        rebuild(page)
    assert errors == []

    rows = {}
    for file in sorted((folder / "out" / "data").glob("*.parquet")):
        rows.update({r["id"]: r for r in pq.read_table(file).to_pylist()})
    card = (folder / "out" / "README.md").read_text()
    label_names = yaml.safe_load(card.split("---\n")[1])["dataset_info"]["features"]
    names = next(f["dtype"]["class_label"]["names"] for f in label_names if f["name"] == "label")
    for row_id, label in decided.items():
        assert names[str(rows[row_id]["label"])] == label
        assert rows[row_id]["label_source"] == "human"
    assert sum(r["label_source"] == "human" for r in rows.values()) == 5
    assert "3 given a label, 0 dropped" in card
    assert re.search(r"Human annotations: 5 rows labelled by people \(\d+ of them corrections", card)


def test_row_text_is_shown_as_text_and_runs_nothing(browser, manual_build: Path, tmp_path: Path) -> None:
    folder = private_copy(manual_build, tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with serving(folder) as url:
        page.goto(url)
        ready(page)
        title = page.title()
        assert page.get_attribute("button.tab.active", "data-queue") == "rows"
        for needle, hostile in (("onerror", HOSTILE[0]), ("<script>", HOSTILE[1])):
            page.keyboard.press("/")
            page.keyboard.type(needle)
            page.keyboard.press("Enter")
            page.wait_for_selector("#position:text-matches('^1 of 1$')")
            assert page.inner_text("article.item.current .text") == hostile
            page.keyboard.press("/")
            page.fill("#filter", "")
            page.keyboard.press("Enter")
            page.wait_for_selector("#position:text-matches('^1 of 86$')")
        assert page.query_selector_all("#items img, #items script") == []
        assert page.title() == title and "pwned" not in page.title()
        assert dialogs == []
        page.keyboard.press("]")
        page.wait_for_selector("article.item.item-pair")
        shot(page, "duplicates")
        page.keyboard.press("]")
        page.wait_for_selector("button.tab.active[data-queue=leakage]")
        # The leakage queue's own cards: the duplicates' cards stay until its first page arrives.
        page.wait_for_selector("article.item.item-pair .badge.kind:text-matches('^test: ')")
        assert len(page.query_selector_all("article.item.item-pair mark")) >= 3  # the three words that differ
        shot(page, "leakage")


def test_label_sets_are_toggled_with_keys_and_kept(browser, many_build: Path, tmp_path: Path) -> None:
    folder = private_copy(many_build, tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    decided: dict[str, str] = {}
    with serving(folder) as url:
        page.goto(url)
        ready(page)
        assert page.inner_text("#help-label") == "add or remove a label"
        page.wait_for_selector("article.item.current")
        first = page.get_attribute("article.item.current", "data-id")
        # 1 then 3: sports and space on the same row (the cursor stays); Enter keeps them, next.
        page.keyboard.press("1")
        settled(page)
        page.keyboard.press("3")
        settled(page)
        current = f"article.item[data-id='{first}']"
        assert page.inner_text(f"{current} .decision") == "→ sports, space"
        assert [b.get_attribute("data-label") for b in page.query_selector_all(f"{current} button.label.chosen")] == [
            "sports", "space"]
        shot(page, "label-sets")
        page.keyboard.press("Enter")
        settled(page)
        second = page.get_attribute("article.item.current", "data-id")
        assert second != first
        # 2, then 2 again: the label is taken back and the row has no decision.
        page.keyboard.press("2")
        settled(page)
        page.keyboard.press("2")
        settled(page)
        assert page.inner_text(f"article.item[data-id='{second}'] .decision") == ""
        page.keyboard.press("3")
        settled(page)
        decided = {r["id"]: r["labels"] for r in csv.DictReader((folder / "recipe.annotations.csv").open())}
        # A reload shows the sets as decided.
        page.reload()
        ready(page)
        page.wait_for_selector(f"article.item[data-id='{second}'] .decision:text-matches('space')")
        assert page.inner_text("button.tab[data-queue=rows] .tab-count") == "2/24"
    assert errors == []
    assert decided == {first: "sports;space", second: "space"}
