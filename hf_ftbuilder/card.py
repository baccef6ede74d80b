"""The dataset card: YAML metadata that ``load_dataset`` and the Hub read, and a readable body.

The body comes from a Jinja template (``cards/dataset_card.md``, shipped in the wheel as
``hf_ftbuilder.cards``, or the recipe's ``card.template``); ``huggingface_hub.DatasetCard``
renders it and writes the YAML header.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from datasets import Features
from huggingface_hub import DatasetCard, DatasetCardData

from . import schema
from .label import REVIEW_REASONS

__all__ = ["DEFAULT_TEMPLATE", "known_languages", "known_licenses", "render_card", "size_category", "template_text"]

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
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
              (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T")]
    for bound, name in bounds:
        if n < bound:
            assert name in _datasets_resource("size_categories.json")
            return name
    return "n>1T"


@functools.cache
def _datasets_resource(name: str) -> Any:
    """A list that ``datasets`` ships for validating card metadata (languages, size categories)."""
    return json.loads(resources.files("datasets.utils.resources").joinpath(name).read_text(encoding="utf-8"))


def known_languages() -> set[str]:
    """Language codes a dataset card may name (the list ``datasets`` ships)."""
    return set(_datasets_resource("languages.json"))


@functools.cache
def known_licenses() -> frozenset[str]:
    """Licence ids the Hub accepts (``cards/licenses.txt``, shipped with the package)."""
    text = resources.files("hf_ftbuilder.cards").joinpath("licenses.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def template_text(path: Path | None = None) -> str:
    """A card template: the file at ``path``, or the default one shipped in the package."""
    if path is not None:
        return path.read_text(encoding="utf-8")
    return resources.files("hf_ftbuilder.cards").joinpath(DEFAULT_TEMPLATE).read_text(encoding="utf-8")


def _type_name(feature: Any) -> str:
    if hasattr(feature, "names"):
        return "class label"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_card(
    quality: dict[str, Any],
    *,
    features: Features,
    split_info: dict[str, dict[str, int]],
    template: str | None = None,
) -> DatasetCard:
    """Build the card from ``quality.json`` alone, so ``ftbuild card`` can redo it without a rebuild.

    Args:
        quality: the ``quality.json`` content; its ``card`` section holds the recipe's name, seed,
            card metadata and package versions, ``examples`` a few removed rows per reason and
            ``images`` the plots' relative paths.
        features: the features of the written splits.
        split_info: per split ``num_examples``, ``num_bytes`` and ``download_size`` as written.
        template: the Jinja template text (default: the shipped one).

    Returns:
        The rendered ``DatasetCard``; ``card.save(path)`` writes it.
    """
    meta = quality["card"]["metadata"]
    name = quality["card"]["name"]
    total = sum(info["num_examples"] for info in split_info.values())
    dataset_info = {
        "features": features._to_yaml_list(),
        "splits": [
            {"name": split, "num_bytes": info["num_bytes"], "num_examples": info["num_examples"]}
            for split, info in split_info.items()
        ],
        "download_size": sum(info["download_size"] for info in split_info.values()),
        "dataset_size": sum(info["num_bytes"] for info in split_info.values()),
    }
    configs = [
        {"config_name": "default", "data_files": [{"split": split, "path": f"data/{split}-*"} for split in split_info]}
    ]
    card_data = DatasetCardData(
        language=meta.get("language") or None,
        license=meta.get("license"),
        task_categories=meta.get("task_categories") or None,
        size_categories=[size_category(total)],
        pretty_name=meta.get("pretty_name") or name,
        configs=configs,
        dataset_info=dataset_info,
    )
    labels = quality.get("labels", {})
    columns = [
        {"name": col, "type": _type_name(feature), "doc": _COLUMN_DOCS.get(col, "passed through from the input")}
        for col, feature in features.items()
    ]
    stage = {s["name"]: s for s in quality["stages"]}
    split_stage = stage.get("split")
    label_stage = stage.get("label")
    rare = split_stage.get("details", {}).get("rare_classes_train_only", {}) if split_stage else {}
    examples = quality.get("examples", {})
    return DatasetCard.from_template(
        card_data,
        template_str=template or template_text(),
        title=meta.get("pretty_name") or name,
        description=meta.get("description"),
        name=name,
        seed=quality["card"]["seed"],
        versions=quality["card"].get("versions", {}),
        fingerprint=quality["recipe_fingerprint"],
        label_names=labels.get("names", []),
        label_shares=labels.get("shares", {}),
        splits=[{"name": split, **entry} for split, entry in quality["splits"].items()],
        total_rows=total,
        rare_classes=rare,
        until=quality.get("until"),
        sources=stage["collect"]["details"]["sources"],
        stages=quality["stages"],
        examples={
            r: [{**row, "text": _short(row["text"] or ""), "snippet": _short(row["text"] or "", 40)} for row in rows]
            for r, rows in examples.items()
        },
        cleaning=stage["clean"].get("details") if "clean" in stage else None,
        dedup=stage["dedup"].get("details") if "dedup" in stage else None,
        labelling=label_stage.get("details") if label_stage else None,
        review={r: c for r, c in (label_stage or {}).get("dropped", {}).items() if r in REVIEW_REASONS},
        split=split_stage.get("details") if split_stage else None,
        leakage=quality.get("leakage"),
        balance=quality.get("balance"),
        q=quality,
        images=quality.get("images", {}),
        columns=columns,
    )
