"""The build, stage by stage. Only this module knows the order of the stages.

collect -> extract -> clean -> dedup -> label -> split -> balance -> report -> write
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from datasets import DatasetDict

from . import clean as clean_stage
from . import collect as collect_stage
from . import dedup as dedup_stage
from . import extract as extract_stage
from . import extras, schema
from . import label as label_stage
from . import quality as report_stage
from . import split as split_stage
from . import write as write_stage
from .arrow_cache import detach
from .atomic_dir import recover
from .card import template_text
from .config import STAGES, Execution, Recipe, load_config, stage_index
from .context import StageContext
from .engine import Engine, LocalEngine, RayEngine
from .errors import ConfigError, StageError
from .label import manual
from .memory import StagePeak, peak_rss_mb, release
from .minhash import Shingling
from .progress import library_bars_off
from .split.balance import balance as balance_stage
from .stats import StageStats

__all__ = ["BuildResult", "build", "crawl", "export_tasks", "make_engine", "recipe_fingerprint", "required_extras"]

logger = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What a build produced.

    Attributes:
        dataset: the splits as written.
        quality: the content of ``quality.json``.
        output_dir: the folder written.
        stages: every stage's stats, in order.
    """

    dataset: DatasetDict
    quality: dict[str, Any]
    output_dir: Path
    stages: list[StageStats] = field(default_factory=list)


def recipe_fingerprint(recipe: Recipe, inputs: dict[str, str]) -> str:
    """sha256 of the resolved recipe and its inputs, without where it is written, where its cache
    lives and which engine ran it: none of them changes the output."""
    resolved = recipe.model_dump(mode="json", exclude={"output": {"dir", "overwrite"}, "execution": True,
                                                       "cache_dir": True})
    blob = json.dumps({"recipe": resolved, "inputs": inputs}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class _Run:
    """Times the stages, measures their memory, and logs each one's summary line."""

    def __init__(self) -> None:
        self.stages: list[StageStats] = []
        self.timings: dict[str, float] = {}
        self.figures: dict[str, dict[str, float | None]] = {}
        self._recorded: StageStats | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self._recorded = None
        with StagePeak() as peak:
            yield
            release()  # what the stage freed goes back to the system before the next one starts
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        figures = self.figures.setdefault(name, {})
        figures.update(seconds=self.timings[name], peak_rss_mb=peak.mb)
        stats = self._recorded
        if stats is not None:
            # A stage that took no measurable time (extract with nothing to extract) has no rate.
            rate = stats.rows_in / seconds if seconds >= 0.01 else None
            figures["rows_per_second"] = round(rate, 1) if rate is not None else None
            # Timings go only to the log and quality.json's run section, never to the stage stats,
            # so the rest of quality.json stays identical between runs.
            logger.info("%s (%.1f s, %s rows/s, peak RSS %.0f MB)", stats.summary(), seconds,
                        f"{rate:,.0f}" if rate is not None else "-", peak.mb)

    def record(self, stats: StageStats) -> None:
        # Kept until write; as selections they would keep this stage's whole table mapped.
        stats.dropped_rows = detach(stats.dropped_rows)
        stats.review_rows = {reason: detach(rows) for reason, rows in stats.review_rows.items()}
        self.stages.append(stats)
        self._recorded = stats
        if stats.rows_out == 0:
            logger.info(stats.summary())
            raise StageError(f"{stats.name}: no rows left ({stats.summary()})")


def _context(recipe: Recipe, engine: Engine, *, progress: bool) -> StageContext:
    """What every stage of this build gets beside its rows and its config section."""
    return StageContext(seed=recipe.seed, base_dir=recipe.base_dir, cache_dir=recipe.resolved_cache_dir(),
                        engine=engine, progress=progress)


def _collect(recipe: Recipe, context: StageContext, *, refresh: bool) -> tuple[Any, StageStats]:
    return collect_stage.collect(
        recipe.sources,
        recipe.collect,
        context=context,
        fetch=recipe.fetch,
        label_column=label_stage.input_column(recipe.label) if recipe.label else None,
        refresh=refresh,
    )


def required_extras(recipe: Recipe, stop: int) -> list[tuple[str, str]]:
    """The extras the stages up to ``stop`` need, as ``(extra, recipe setting)`` pairs.

    Figures of the report that only the defaults ask for (token counts, semantic diversity, plots)
    are not here: without their extra the report leaves them out and says so.
    """
    def runs(stage: str) -> bool:
        return stage_index(stage) <= stop

    needs: list[tuple[str, str]] = []
    label = recipe.label
    if label is not None and runs("label") and (setting := label_stage.needs_models(label)):
        needs.append(("models", setting))
    if runs("split") and recipe.leakage.enabled and recipe.leakage.embedding:
        needs.append(("models", "leakage.embedding: true"))
    if runs("report"):
        if recipe.report.embedding_baseline and label is not None and runs("label"):
            needs.append(("models", "report.embedding_baseline: true"))
        if recipe.report.tokenizer not in (None, "none"):
            needs.append(("models", f"report.tokenizer: {recipe.report.tokenizer}"))
    if recipe.execution.engine == "ray":
        needs.append(("ray", "execution.engine: ray"))
    return needs


def _check_extras(recipe: Recipe, stop: int) -> None:
    """Stop before any work when the recipe asks for a part whose packages are not installed."""
    for extra, feature in required_extras(recipe, stop):
        extras.require(extra, feature)


def crawl(config: Recipe | str | Path, *, refresh: bool = False, progress: bool = True) -> StageStats:
    """Run the collect stage only: fetch (or read) every source and fill the fetch cache.

    Returns:
        The collect stage's stats: rows kept, failures per reason, requests made and cache hits.
    """
    recipe = config if isinstance(config, Recipe) else load_config(config)
    with library_bars_off():
        _, stats = _collect(recipe, StageContext(seed=recipe.seed, base_dir=recipe.base_dir,
                                                 cache_dir=recipe.resolved_cache_dir(), progress=progress),
                            refresh=refresh)
    logger.info(stats.summary())
    return stats


def _rows(recipe: Recipe, run: _Run, stop: int, context: StageContext, *, refresh: bool) -> tuple[Any, dict[str, str]]:
    """Collect, extract, clean and dedup (those up to ``stop``): the rows before labelling."""

    def runs(stage: str) -> bool:
        return stage_index(stage) <= stop

    with run.stage("collect"):
        ds, stats = _collect(recipe, context, refresh=refresh)  # backed by a file in cache_dir
        run.record(stats)
    inputs = stats.details["inputs"]

    if runs("extract"):
        with run.stage("extract"):
            ds, stats = extract_stage.extract(ds, recipe.extract, context=context)
            run.record(stats)

    if runs("clean"):
        with run.stage("clean"):
            ds, stats = clean_stage.clean(ds, recipe.clean, context=context)
            run.record(stats)

    if runs("dedup"):
        with run.stage("dedup"):
            reference = None
            if recipe.dedup.against:
                # Reference sets are read, not kept: no cache of their rows.
                reference, _ = collect_stage.collect(recipe.dedup.against, recipe.collect,
                                                     context=replace(context, cache_dir=None))
            ds, stats = dedup_stage.dedup(ds, recipe.dedup, context=context, reference=reference)
            run.record(stats)
    return ds, inputs


def export_tasks(
    config: Recipe | str | Path,
    *,
    fmt: str = "csv",
    out: str | Path | None = None,
    refresh: bool = False,
    progress: bool = True,
    ask: bool = False,
    build_dir: str | Path | None = None,
) -> list[Path]:
    """Write annotation tasks for the rows a build would label (after dedup).

    With ``label.suggest`` (or a model ``label.method``) each task carries the model's label and score.
    With ``ask``, the tasks are the rows the latest build asks about (``label.ask``; its
    ``review/ask.parquet``, in ``build_dir`` or the recipe's output folder), with the model's label.

    Returns:
        The files written: the tasks (default ``<recipe folder>/<name>-tasks.<ext>``), and for
        Label Studio its labelling interface (``.xml``).
    """
    recipe = config if isinstance(config, Recipe) else load_config(config)
    if recipe.label is None or not recipe.label.labels:
        raise ConfigError("label export needs a label section with labels: the names annotators choose from")
    cfg = recipe.label
    many = cfg.labels_per_row == "many"
    ext = {"csv": "csv", "jsonl": "jsonl", "label-studio": "json"}.get(fmt, fmt)
    if ask:
        return _export_asked(recipe, fmt, Path(out) if out is not None else recipe.base_dir / f"{recipe.name}-ask.{ext}",
                             Path(build_dir) if build_dir is not None else recipe.output_dir())
    model = label_stage.suggestion_model(cfg)
    if model is not None:
        extras.require("models", f"label export with suggestions from {model.method}")
    with library_bars_off(), _engine(recipe, progress=progress) as engine:
        context = _context(recipe, engine, progress=progress)
        ds, _ = _rows(recipe, _Run(), stage_index("dedup"), context, refresh=refresh)
        suggestions: tuple[Any, Any] | None = None
        suggested_by = None
        if model is not None and many:
            sets, set_scores, suggested_by = label_stage.suggest_sets(ds, model, list(cfg.labels), context=context)
            suggestions = (sets, set_scores)
        elif model is not None:
            labels, scores, suggested_by, _ = label_stage.suggest(ds, model, list(cfg.labels), context=context)
            suggestions = (labels, scores)
    path = Path(out) if out is not None else recipe.base_dir / f"{recipe.name}-tasks.{ext}"
    table = ds.with_format("arrow")[:]
    written = manual.export_tasks(
        path, fmt, ids=table.column(schema.ID).to_pylist(), texts=table.column(schema.TEXT).to_pylist(),
        names=list(cfg.labels), suggestions=suggestions, suggested_by=suggested_by, many=many,
        delimiter=cfg.label_delimiter,
    )
    logger.info("label export: %d tasks in %s", ds.num_rows, path)
    return written


def build(
    config: Recipe | str | Path,
    *,
    output_dir: str | Path | None = None,
    overwrite: bool | None = None,
    until: str | None = None,
    refresh: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Build a dataset from a recipe.

    Args:
        config: a :class:`Recipe` or the path of a YAML recipe.
        output_dir: where to write (default: ``output.dir`` or ``build/<name>``).
        overwrite: replace an earlier build there (default: ``output.overwrite``).
        until: stop after this stage (``collect`` ... ``balance``) and write what stands:
            one ``train`` split when it stops before ``split``.
        refresh: fetch web pages again even when the fetch cache holds them.
        progress: show progress bars.

    Returns:
        The :class:`BuildResult`.

    Raises:
        ConfigError: the recipe is invalid, or has no ``label`` section for a full build.
        SourceError: an input is missing or malformed.
        StageError: a stage cannot go on (no rows left, a class too small to split).
    """
    recipe = config if isinstance(config, Recipe) else load_config(config)
    stop = stage_index(until) if until else len(STAGES) - 1
    if recipe.label is None and stop >= stage_index("label"):
        raise ConfigError("the recipe has no label section; add one (label: {method: column, column: ...}) "
                          "or build with --until dedup")
    out_dir = Path(output_dir) if output_dir is not None else recipe.output_dir()
    overwrite = recipe.output.overwrite if overwrite is None else overwrite
    recover(out_dir.resolve())  # what a build killed while replacing this folder left beside it
    recipe_path = None if isinstance(config, Recipe) else Path(config)
    write_stage.check_output_dir(out_dir, overwrite=overwrite, protected=_protected_paths(recipe, recipe_path))
    _check_extras(recipe, stop)
    _say_paths_outside(recipe)
    with library_bars_off(), _engine(recipe, progress=progress) as engine:
        return _build(recipe, engine, out_dir=out_dir, overwrite=overwrite, until=until, stop=stop, refresh=refresh,
                      progress=progress)


def _protected_paths(recipe: Recipe, recipe_path: Path | None) -> dict[Path, tuple[str, bool]]:
    """What the output folder may neither hold nor lie inside: the recipe, its inputs, the cache
    (each with whether it is a folder)."""
    base = recipe.base_dir
    out: dict[Path, tuple[str, bool]] = {recipe_path: ("recipe", False)} if recipe_path is not None else {}
    for src in [*recipe.sources, *recipe.dedup.against]:
        path = getattr(src, "path", None)
        root = _glob_root(path) if path else "."
        if root == "." or not (base / root).exists():
            continue  # a Hub id, a glob at the recipe's own folder (a sibling out/ is fine), or missing
        full = base / root
        out[full] = ("input folder", True) if full.is_dir() else ("input file", False)
    for path in recipe.referenced_files():
        out[base / path] = ("input file", False)
    out[recipe.resolved_cache_dir()] = ("cache", True)
    return out


def _say_paths_outside(recipe: Recipe) -> None:
    """One warning per path the recipe reads outside its own folder: recipes travel, and a path
    such as ../../home/me/.ssh should not be read unnoticed (it is allowed: data often lives elsewhere)."""
    base = recipe.base_dir.resolve()
    named = [(f"sources[{i}].path", getattr(src, "path", None)) for i, src in enumerate(recipe.sources)]
    named += [(f"dedup.against[{i}].path", getattr(src, "path", None)) for i, src in enumerate(recipe.dedup.against)]
    named += [("card.template", recipe.card.template)]
    named += [(f"file {path}", path) for path in recipe.referenced_files() if path != recipe.card.template]
    for key, path in named:
        if not path:
            continue
        full = (base / _glob_root(path)).resolve()
        if (base / path).exists() or full.exists():
            if base != full and base not in full.parents:
                logger.warning("%s reads %s, outside the recipe's folder", key, full)


def _glob_root(pattern: str) -> str:
    """The part of a path before its first wildcard (``raw/*.jsonl`` -> ``raw``)."""
    parts = Path(pattern).parts
    plain = [p for p in itertools.takewhile(lambda part: not glob.has_magic(part), parts)]
    return str(Path(*plain)) if plain else "."


def _export_asked(recipe: Recipe, fmt: str, path: Path, build_dir: Path) -> list[Path]:
    asked = build_dir / "review" / "ask.parquet"
    if not asked.is_file():
        why = "it sets no label.ask" if not getattr(recipe.label, "ask", 0) else f"no {asked}"
        raise ConfigError(f"label export --ask: no asked rows for {recipe.name} ({why}); build it with label.ask: N first")
    table = pq.read_table(asked)
    names = list(recipe.label.labels or [])
    index = {n: i for i, n in enumerate(names)}
    suggested = table.column("suggested_label").to_pylist()
    # A row the model had no label for is exported without a suggestion; a label the recipe no
    # longer has means the file is from a build of other labels, and is not guessed at.
    stale = sorted({s for s in suggested if s is not None and s not in index})
    if stale:
        raise ConfigError(f"label export --ask: {asked} suggests {', '.join(map(repr, stale))}, not among "
                          f"{recipe.name}'s labels; build it again with these labels first")
    suggestions = (np.array([index[s] if s is not None else -1 for s in suggested], dtype=np.int64),
                   table.column(schema.LABEL_SCORE).to_numpy(zero_copy_only=False))
    written = manual.export_tasks(path, fmt, ids=table.column(schema.ID).to_pylist(),
                                  texts=table.column(schema.TEXT).to_pylist(), names=names, suggestions=suggestions,
                                  suggested_by=f"{recipe.name} build")
    logger.info("label export: %d asked rows in %s", table.num_rows, path)
    return written


def make_engine(cfg: Execution, cache_dir: Path, *, progress: bool = True) -> Engine:
    """The engine a recipe's ``execution`` section asks for (``progress``: draw the steps' bars)."""
    if cfg.engine == "ray":
        return RayEngine(address=cfg.address, num_cpus=cfg.num_cpus, cache_dir=cache_dir, progress=progress)
    return LocalEngine(cfg.num_cpus, progress=progress)


@contextmanager
def _engine(recipe: Recipe, *, progress: bool) -> Iterator[Engine]:
    engine = make_engine(recipe.execution, recipe.resolved_cache_dir(), progress=progress)
    logger.debug("engine: %s", engine.name)
    try:
        yield engine
    finally:
        engine.close()


def _build(recipe: Recipe, engine: Engine, *, out_dir: Path, overwrite: bool, until: str | None, stop: int,
           refresh: bool, progress: bool) -> BuildResult:
    run = _Run()
    started = time.perf_counter()

    def runs(stage: str) -> bool:
        return stage_index(stage) <= stop

    context = _context(recipe, engine, progress=progress)
    ds, inputs = _rows(recipe, run, stop, context, refresh=refresh)

    if runs("label"):
        assert recipe.label is not None
        with run.stage("label"):
            ds, stats = label_stage.label(ds, recipe.label, context=context)
            run.record(stats)

    if runs("split"):
        with run.stage("split"):
            # One near-duplicate measure for the build: dedup's n-grams and permutations.
            shingling = Shingling(recipe.dedup.near.ngram, recipe.dedup.near.num_perm)
            assignment = split_stage.assign(ds, recipe.split, context=context, shingling=shingling)
            assignment = split_stage.check_leakage(assignment, recipe.leakage, context=context, shingling=shingling,
                                                   embedding_model=label_stage.embedding_model(recipe.label))
            dd, stats = split_stage.materialize(assignment)
            run.record(stats)
    else:
        dd = DatasetDict({"train": ds})

    if runs("balance"):
        with run.stage("balance"):
            dd, stats = balance_stage(dd, recipe.balance, context=context)
            run.record(stats)

    with run.stage("report"):
        # A build stopped before label is a peek at clean and dedup: no model is loaded for it.
        sections, stats = report_stage.report(dd, recipe.report, context=context, stages=run.stages,
                                              peek=stop < stage_index("label"))
        run.record(stats)

    stopped_early = until if until and stop < stage_index("report") else None
    quality: dict[str, Any] = {
        "recipe_fingerprint": recipe_fingerprint(recipe, inputs),
        "name": recipe.name,
        "seed": recipe.seed,
        "until": stopped_early,
        "splits": sections.pop("splits"),
        "stages": [s.to_dict() for s in run.stages],
        **sections,
    }
    # Topic sections that a stage measured, at the top level where readers look for them.
    for st in run.stages:
        if st.name == "split" and "leakage" in st.details:
            quality["leakage"] = st.details["leakage"]
        if st.name == "balance" and st.details.get("method", "none") != "none":
            quality["balance"] = st.details
    # The run section describes the stages before write: quality.json is written by write itself.
    quality["run"] = {
        "engine": engine.name,
        "stage_seconds": dict(run.timings),
        "stages": {name: dict(figures) for name, figures in run.figures.items()},
        "total_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
        # Each report figure's cost: where a build's fixed time goes.
        "report": {figure: {"seconds": seconds} for figure, seconds in stats.seconds.items()},
    }
    # What the card says of the recipe; the card is redone from quality.json alone (ftbuild card).
    quality["card"] = {"name": recipe.name, "seed": recipe.seed, "versions": write_stage.package_versions(),
                       "metadata": recipe.card.model_dump(mode="json", exclude={"template"})}
    template = template_text(recipe.base_dir / recipe.card.template) if recipe.card.template else None
    with run.stage("write"):
        write_stage.write(dd, quality, out_dir=out_dir, overwrite=overwrite, output=recipe.output, stages=run.stages,
                          recipe_yaml=recipe.to_build_yaml(inputs), template=template,
                          examples_per_reason=recipe.report.examples_per_reason, plots=recipe.report.plots)
    logger.info("write: %s (%s) (%.1f s, peak RSS %.0f MB)", out_dir, ", ".join(f"{k}={v.num_rows}" for k, v in dd.items()),
                run.timings["write"], run.figures["write"]["peak_rss_mb"])
    return BuildResult(dataset=dd, quality=quality, output_dir=out_dir, stages=run.stages)
