"""Every stage function keeps one shape: ``stage(rows, cfg, *, context, ...) -> (rows | sections, StageStats)``.

The pipeline relies on it, and so do library users who call a stage on their own dataset.
"""

from __future__ import annotations

import inspect

import pytest

from hf_ftbuilder import clean, collect, dedup, extract, label, quality, split
from hf_ftbuilder.context import StageContext
from hf_ftbuilder.split import balance

STAGES = {
    "collect": (collect.collect, "sources"),
    "extract": (extract.extract, "ds"),
    "clean": (clean.clean, "ds"),
    "dedup": (dedup.dedup, "ds"),
    "label": (label.label, "ds"),
    "split": (split.split, "ds"),
    "split.assign": (split.assign, "ds"),
    "balance": (balance.balance, "dd"),
    "report": (quality.report, "dd"),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_takes_its_rows_its_config_and_a_context(name: str) -> None:
    fn, rows = STAGES[name]
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:2]] == [rows, "cfg"], name
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:2])
    context = inspect.signature(fn).parameters["context"]
    assert context.kind is inspect.Parameter.KEYWORD_ONLY and context.default is None
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:]), name


def test_the_context_defaults_are_a_library_users() -> None:
    context = StageContext()
    assert (context.seed, context.cache_dir, context.progress, context.engine.name) == (42, None, True, "local")
