"""The README's recipe reference against the config models: every key it shows is valid, every
key the models take is shown, so the reference cannot drift from the code."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from hf_ftbuilder import config
from hf_ftbuilder.config import parse_config

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SECTION = README.split("\n## The recipe\n", 1)[1].split("\n## ", 1)[0]
BLOCKS = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", SECTION, flags=re.S)]
FULL, METHODS = BLOCKS[0], BLOCKS[1:]
#: Keys whose values are free mappings or lists of sources, checked by parsing, not key by key.
FREE = {"descriptions", "metadata", "sources", "against", "max_top_ngram_frac", "max_dup_ngram_frac", "suggest"}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The config models a field holds (through Optional, Annotated and unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _undocumented(model: type[BaseModel], shown: dict[str, Any], path: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if name not in shown:
            out.append(f"{path}.{name}")
            continue
        nested = _models(field.annotation)
        if name not in FREE and len(nested) == 1 and isinstance(shown[name], dict):
            out += _undocumented(nested[0], shown[name], f"{path}.{name}")
    return out


def test_the_full_recipe_and_every_method_block_validate() -> None:
    parse_config(FULL)
    for block in METHODS:
        parse_config({**FULL, **block})


def test_every_key_of_every_section_is_shown() -> None:
    top = {name: f for name, f in config.Recipe.model_fields.items() if name not in ("label", "split")}
    missing = [f"<recipe>.{name}" for name in top if name not in FULL]
    for name, field in top.items():
        nested = _models(field.annotation)
        if name in FULL and name not in FREE and len(nested) == 1:
            missing += _undocumented(nested[0], FULL[name], name)
    assert missing == []


@pytest.mark.parametrize(("section", "members"), [
    ("label", [config.ColumnLabel, config.ZeroShotLabel, config.EmbeddingLabel, config.KMeansLabel,
               config.ManualLabel]),
    ("split", [config.StratifiedSplit, config.RandomSplit, config.TimeSplit, config.GroupSplit]),
])
def test_every_method_has_a_block_with_all_its_keys(section: str, members: list[type[BaseModel]]) -> None:
    shown = {block[section]["method"]: block[section] for block in [FULL, *METHODS] if section in block}
    for member in members:
        method = member.model_fields["method"].default
        assert method in shown, f"no README block for {section} method {method}"
        assert _undocumented(member, shown[method], f"{section}[{method}]") == []
