"""The dataset card: YAML metadata that ``load_dataset`` and the Hub read, and a readable body.

The body comes from a Jinja template (``cards/dataset_card.md``, shipped in the wheel as
``hf_ftbuilder.cards``, or the recipe's ``card.template``); ``huggingface_hub.DatasetCard``
renders it and writes the YAML header.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData

from . import schema
from .config import Recipe
from .label import REVIEW_REASONS

__all__ = ["DEFAULT_TEMPLATE", "render_card", "size_category"]

DEFAULT_TEMPLATE = "dataset_card.md"

_COLUMN_DOCS = {
    schema.ID: "stable row id: sha256 of the row's origin (source, file, row), 16 hex digits",
    schema.TEXT: "the cleaned text",
    schema.SOURCE: "where the row came from: `<type>:<path or host>`",
    schema.LABEL: "the class",
    schema.LABEL_SCORE: "confidence of a model-given label (empty for labels taken from a column)",
    schema.LABEL_SOURCE: "how the label was given: `column:<name>`, `zero_shot:<model>`, `embedding:<model>`, `cluster:<id>` or `human`",
    schema.URL: "the page's URL (after redirects)",
    schema.TITLE: "the page's title",
    schema.DATE: "the page's date",
    schema.LANGUAGE: "language code of the page",
    schema.FETCHED_AT: "when the page was fetched (UTC; the WARC date for WARC records)",
    schema.FILE: "the input file, relative to its source folder",
    schema.AUTHOR: "the page's author, as the page states it",
    schema.SITENAME: "the site's name, as the page states it",
    schema.HTTP_STATUS: "HTTP status of the fetched page",
    schema.LASTMOD: "the page's lastmod in its sitemap",
    schema.DUP_CLUSTER: "id of the kept row of this row's duplicate group (empty when it had none)",
    schema.DUP_COUNT: "rows in the duplicate group, this one included",
    schema.AUGMENTED_FROM: "for rows balancing added to train: the id of the row they copy or were made from",
}


def size_category(n: int) -> str:
    """The Hub's size category for ``n`` rows (``1K<n<10K``, ...)."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1B"


def _template_text(recipe: Recipe) -> str:
    if recipe.card.template:
        return (recipe.base_dir / recipe.card.template).read_text(encoding="utf-8")
    return resources.files("hf_ftbuilder.cards").joinpath(DEFAULT_TEMPLATE).read_text(encoding="utf-8")


def _type_name(feature: Any) -> str:
    if hasattr(feature, "names"):
        return "class label"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_card(
    recipe: Recipe,
    *,
    features: Features,
    split_info: dict[str, dict[str, int]],
    quality: dict[str, Any],
    examples: dict[str, list[dict[str, Any]]],
    until: str | None,
) -> DatasetCard:
    """Build the card.

    Args:
        recipe: the build recipe (card metadata, name, seed).
        features: the features of the written splits.
        split_info: per split ``num_examples`` and ``num_bytes`` as written.
        quality: the ``quality.json`` content.
        examples: a few removed rows per reason (``id``, ``text``, ``dup_of``).
        until: the stage the build stopped after, if it stopped early.

    Returns:
        The rendered ``DatasetCard``; ``card.save(path)`` writes it.
    """
    total = sum(info["num_examples"] for info in split_info.values())
    dataset_info = {
        "features": features._to_yaml_list(),
        "splits": [
            {"name": name, "num_bytes": info["num_bytes"], "num_examples": info["num_examples"]}
            for name, info in split_info.items()
        ],
        "download_size": sum(info["download_size"] for info in split_info.values()),
        "dataset_size": sum(info["num_bytes"] for info in split_info.values()),
    }
    configs = [
        {
            "config_name": "default",
            "data_files": [{"split": name, "path": f"data/{name}-*"} for name in split_info],
        }
    ]
    card_data = DatasetCardData(
        language=recipe.card.language or None,
        license=recipe.card.license,
        task_categories=recipe.card.task_categories or None,
        size_categories=[size_category(total)],
        pretty_name=recipe.card.pretty_name or recipe.name,
        configs=configs,
        dataset_info=dataset_info,
    )
    labels = quality.get("labels", {})
    splits = [{"name": name, **entry} for name, entry in quality["splits"].items()]
    columns = [
        {"name": name, "type": _type_name(feature), "doc": _COLUMN_DOCS.get(name, "passed through from the input")}
        for name, feature in features.items()
    ]
    split_stage = next((s for s in quality["stages"] if s["name"] == "split"), None)
    clean_stage = next((s for s in quality["stages"] if s["name"] == "clean"), None)
    dedup_stage = next((s for s in quality["stages"] if s["name"] == "dedup"), None)
    label_stage = next((s for s in quality["stages"] if s["name"] == "label"), None)
    rare = split_stage.get("details", {}).get("rare_classes_train_only", {}) if split_stage else {}
    return DatasetCard.from_template(
        card_data,
        template_str=_template_text(recipe),
        title=recipe.card.pretty_name or recipe.name,
        description=recipe.card.description,
        name=recipe.name,
        seed=recipe.seed,
        fingerprint=quality["recipe_fingerprint"],
        label_names=labels.get("names", []),
        label_shares=labels.get("shares", {}),
        splits=splits,
        rare_classes=rare,
        until=until,
        sources=next(s for s in quality["stages"] if s["name"] == "collect")["details"]["sources"],
        stages=quality["stages"],
        examples={
            r: [{**row, "text": _short(row["text"] or ""), "snippet": _short(row["text"] or "", 40)} for row in rows]
            for r, rows in examples.items()
        },
        cleaning=clean_stage.get("details") if clean_stage else None,
        dedup=dedup_stage.get("details") if dedup_stage else None,
        labelling=label_stage.get("details") if label_stage else None,
        split=split_stage.get("details") if split_stage else None,
        leakage=quality.get("leakage"),
        balance=quality.get("balance"),
        review={r: c for r, c in (label_stage or {}).get("dropped", {}).items() if r in REVIEW_REASONS},
        columns=columns,
    )
