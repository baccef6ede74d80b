"""The Hub's dataset card metadata: the values it knows, and which fields a build fills itself.

The lists come from what ``datasets`` ships for validating cards (languages, creators,
multilinguality, size categories) and from ``cards/licenses.txt`` (the Hub's licence ids). The
recipe (``card:``) and the card writer both read them, so they live here, below both.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "COMPUTED_FIELDS",
    "RECIPE_FIELDS",
    "annotations_creators",
    "check_metadata",
    "known_languages",
    "known_licenses",
    "size_category",
]

#: Card fields the build computes from what it wrote; a recipe cannot set them.
COMPUTED_FIELDS = ("configs", "dataset_info", "size_categories")
#: Card fields the recipe sets with their own ``card:`` keys (checked there).
RECIPE_FIELDS = ("license", "language", "pretty_name", "task_categories")
#: Fields whose values must come from one of the lists ``datasets`` ships.
_LISTED = {"annotations_creators": ("creators.json", "annotations"),
           "language_creators": ("creators.json", "language"),
           "multilinguality": ("multilingualities.json", None)}
#: Fields that are lists of strings on the Hub (a single string is accepted and becomes a list).
_STRING_LISTS = ("tags", "task_ids", "source_datasets", "annotations_creators", "language_creators",
                 "multilinguality")

# What a label_source value says about who labelled the row (the Hub's annotations_creators).
_CREATORS_BY_SOURCE = {"column": "found", "zero_shot": "machine-generated", "embedding": "machine-generated",
                       "cluster": "machine-generated", "human": "expert-generated"}


@functools.cache
def _datasets_resource(name: str) -> Any:
    return json.loads(resources.files("datasets.utils.resources").joinpath(name).read_text(encoding="utf-8"))


def known_languages() -> set[str]:
    """Language codes a dataset card may name (the list ``datasets`` ships)."""
    return set(_datasets_resource("languages.json"))


@functools.cache
def known_licenses() -> frozenset[str]:
    """Licence ids the Hub accepts (``cards/licenses.txt``, shipped with the package)."""
    text = resources.files("hf_ftbuilder.cards").joinpath("licenses.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


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


def _allowed(field: str) -> list[str]:
    file, key = _LISTED[field]
    values = _datasets_resource(file)
    return list(values[key] if key else values)


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Validate ``card.metadata``: any Hub card field, but not those the build or the recipe fills.

    Returns:
        The metadata with single strings of list fields made lists.

    Raises:
        ValueError: a field the build computes or the recipe sets with its own key, a value that
            YAML cannot hold, a list field that is not strings, or a value outside the Hub's list.
    """
    out: dict[str, Any] = {}
    for field, value in metadata.items():
        if field in COMPUTED_FIELDS:
            raise ValueError(f"{field} is computed by the build from what it writes; leave it out")
        if field in RECIPE_FIELDS:
            raise ValueError(f"{field} has its own key; set card.{field} instead")
        try:
            yaml.safe_dump(value)
        except yaml.YAMLError:
            raise ValueError(f"{field} is not a YAML value (got {type(value).__name__})") from None
        if field in _STRING_LISTS:
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{field} must be a list of strings; got {value!r}")
        if field in _LISTED:
            allowed = _allowed(field)
            unknown = [v for v in value if v not in allowed]
            if unknown:
                raise ValueError(f"{field} values {unknown} are not the Hub's; expected some of {allowed}")
        out[field] = value
    return out


def annotations_creators(label_sources: list[str]) -> list[str]:
    """The Hub's ``annotations_creators`` for the rows' ``label_source`` values, sorted.

    ``column:<name>`` is ``found``; ``zero_shot:``, ``embedding:`` and ``cluster:`` are
    ``machine-generated``; ``human`` is ``expert-generated``. No labels: ``no-annotation``.
    """
    creators = {_CREATORS_BY_SOURCE.get(str(source).split(":", 1)[0], "other") for source in label_sources if source}
    return sorted(creators) or ["no-annotation"]
