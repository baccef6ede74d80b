"""Progress bars and library chatter: one bar per step a person would name, none from library internals.

A build draws a bar for each step that a person watching it would name (fetch, extract, each clean
pass, fingerprint, embed, zero-shot, ...): ``Dataset.map``'s own bar, labelled with the step's
``desc``, or a tqdm bar of the project's. The libraries underneath draw bars for their own
housekeeping too: ``datasets`` for "Flattening the indices", "Casting the dataset" and "Creating
parquet from Arrow format", transformers for "Loading weights", huggingface_hub for downloads.
During a build those are off (:func:`library_bars_off`) and a named step switches ``datasets``' bar
on for its own map only (:func:`step_bar`). Both restore what they found, so a notebook that imports
the library keeps its own settings.

Only the CLI decides whether bars are drawn at all (not when stderr is not a terminal, not with
``-q``) and how loud the libraries' loggers are (:func:`quiet_libraries`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import datasets.config
from datasets.utils import are_progress_bars_disabled as datasets_bars_disabled
from datasets.utils import disable_progress_bars as disable_datasets_bars
from datasets.utils import enable_progress_bars as enable_datasets_bars
from datasets.utils import logging as datasets_logging

__all__ = ["LIBRARY_LOGGERS", "library_bars_off", "no_bars", "quiet_libraries", "quiet_model_loading", "step_bar"]

#: Loggers of the libraries a build drives; ``-q`` raises them to warnings.
LIBRARY_LOGGERS = ("datasets", "huggingface_hub", "transformers", "sentence_transformers", "urllib3", "ray",
                   "trafilatura", "htmldate", "courlan", "filelock", "fsspec")


# Whether datasets' bars were on when the current build began (None outside a build).
_bars_wanted: ContextVar[bool | None] = ContextVar("hf_ftbuilder_bars_wanted", default=None)


def _datasets_bars(on: bool) -> None:
    # The environment variable has the last word (datasets warns when asked otherwise): respect it.
    forced = datasets.config.HF_DATASETS_DISABLE_PROGRESS_BARS
    if forced is None or forced == (not on):
        (enable_datasets_bars if on else disable_datasets_bars)()


@contextmanager
def library_bars_off() -> Iterator[None]:
    """``datasets``' and huggingface_hub's progress bars off for the block (restored after it)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    datasets_was_on = not datasets_bars_disabled()
    hub_was_off = are_progress_bars_disabled()
    token = _bars_wanted.set(datasets_was_on)
    _datasets_bars(False)
    disable_progress_bars()
    try:
        yield
    finally:
        _bars_wanted.reset(token)
        _datasets_bars(datasets_was_on)
        if not hub_was_off:
            enable_progress_bars()


@contextmanager
def step_bar(enabled: bool) -> Iterator[None]:
    """``datasets``' bar on (or off) for one named step's ``Dataset.map``, then as it was.

    Inside :func:`library_bars_off`, a bar is drawn only if ``datasets``' bars were on when the
    build began: a caller who turned them off (``datasets.disable_progress_bars()``) sees none.
    """
    was_on = not datasets_bars_disabled()
    wanted = _bars_wanted.get()
    _datasets_bars(enabled and (wanted is None or wanted))
    try:
        yield
    finally:
        _datasets_bars(was_on)


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """transformers' "Loading weights" bar and its load-time notices off while a model loads.

    Call it where transformers is already imported (the model steps): it does not import it.
    """
    tf_logging = sys.modules.get("transformers.utils.logging")
    if tf_logging is None:
        yield
        return
    bar_was_on = tf_logging.is_progress_bar_enabled()
    verbosity = tf_logging.get_verbosity()
    tf_logging.disable_progress_bar()
    tf_logging.set_verbosity_error()
    try:
        yield
    finally:
        tf_logging.set_verbosity(verbosity)
        if bar_was_on:
            tf_logging.enable_progress_bar()


def quiet_libraries(level: int) -> None:
    """The CLI's ``-q``: the libraries' loggers at ``level`` and huggingface_hub's bars off.

    transformers reads ``TRANSFORMERS_VERBOSITY`` when it is imported, which a build does later,
    only for a model step; where it is already imported its verbosity is set directly.
    """
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    datasets_logging.set_verbosity(level)
    os.environ["TRANSFORMERS_VERBOSITY"] = logging.getLevelName(level).lower()
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    tf_logging = sys.modules.get("transformers.utils.logging")
    if tf_logging is not None:
        tf_logging.set_verbosity(level)
        tf_logging.disable_progress_bar()


def no_bars() -> None:
    """No library draws a bar in this process (the CLI, when stderr is not a terminal or with -q)."""
    from huggingface_hub.utils import disable_progress_bars

    _datasets_bars(False)
    disable_progress_bars()
