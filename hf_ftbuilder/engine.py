"""Where the map steps run: in this process with ``Dataset.map``, or on a Ray cluster with ``ray.data``.

A stage hands its batch function to an engine instead of calling ``Dataset.map`` itself, so the
same function runs on either engine:

- :meth:`Engine.map` runs a module-level batch function ``fn(batch: dict[str, list], **fn_kwargs)
  -> dict[str, list]``: locally through ``Dataset.map`` in ``num_cpus`` processes; on Ray as
  ``map_batches`` tasks.
- :meth:`Engine.map_model` runs a model step: ``model_cls(**init_kwargs)`` is a callable that loads
  its model on first use. Locally one instance serves every batch (the model uses the cores); on
  Ray an actor pool of ``num_cpus`` actors each builds one instance, so each loads the model once.

Both return a ``datasets.Dataset`` backed by an Arrow file: the steps between (dedup clustering,
splitting, statistics) run on the driver on compact columns, as they do locally. The Ray engine
feeds the rows in blocks, keeps their order (``preserve_order``), casts every batch to the
step's ``features`` (Arrow would otherwise come back with its own types: int64 for a ClassLabel)
and streams the results into ``<cache_dir>/datasets/ray/<fingerprint>.arrow``, which a rebuild
reuses as ``Dataset.map`` reuses its cache files. Same rows, same order, same types: the output
folder is byte-identical to the local engine's.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
from datasets import Dataset, Features
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import Hasher

from .errors import ConfigError, MissingDependencyError
from .memory import release_mapped_pages
from .progress import step_bar

__all__ = ["Engine", "LocalEngine", "RayEngine", "aside", "cores", "in_background", "on_cores", "settle"]

logger = logging.getLogger(__name__)

#: Below this many rows a local map runs in one process: forking workers costs more than it saves.
PARALLEL_MIN_ROWS = 10_000
#: Rows per block handed to Ray: a few batches, so a block is a task of a second or more.
_BLOCK_BATCHES = 8
#: Input a Ray step puts into the object store at once: a step runs as one Ray Data execution per
#: window of whole blocks, so the driver (which maps the object-store pages it writes) and the
#: store hold this much of the input, not the whole dataset. A model step loads its model once
#: per window and actor: a few seconds per 256 MB of text, which takes minutes to run through it.
_WINDOW_BYTES = 256 * 2**20


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_range_input: Sequence[Any] = ()  # what forked range workers read (inherited at the fork, never pickled)


def _run_range(job: tuple[Callable[[Sequence[Any]], Any], int, int]) -> Any:
    fn, start, stop = job
    return fn(_range_input[start:stop])


def on_cores(fn: Callable[[Sequence[Any]], Any], items: Sequence[Any], *, min_per_core: int) -> list[Any]:
    """``fn`` over ``items`` cut into one contiguous range per core, each range in a forked process.

    For the driver's own CPU-bound passes over a bounded sample already in memory (the report's
    term counts and word ids), where ``Dataset.map``'s workers would cost more than they save: a
    fork shares ``items`` without pickling them, and only ``fn``'s results come back. ``fn`` is a
    module-level function; the results are in the ranges' order. Ranges have at least
    ``min_per_core`` items; where processes cannot be forked (not Linux, or this is a daemon
    process) or one range is all there is, ``fn`` runs here on everything.
    """
    workers = min(cores(), len(items) // max(min_per_core, 1))
    if workers < 2 or not _can_fork():
        return [fn(items)]
    bounds = [len(items) * k // workers for k in range(workers + 1)]
    if _background_running():
        # A fork now could catch an import of in_background() half done: the ranges run in threads
        # instead (numpy releases the GIL for most of their work), beside it rather than after it.
        with ThreadPoolExecutor(workers, thread_name_prefix="range") as threads:
            return list(threads.map(lambda ab: fn(items[ab[0] : ab[1]]), zip(bounds, bounds[1:])))
    global _range_input
    _range_input = items
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_range, [(fn, a, b) for a, b in zip(bounds, bounds[1:])]))
    finally:
        _range_input = ()


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


_background: list[Future] = []  # work of in_background() a fork waits for


def in_background(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` in a thread of this process while the caller goes on; the future holds its
    result (or its error).

    For loading that is mostly single-threaded Python (importing scikit-learn, torch and
    transformers, reading a model), overlapped with the caller's own work that releases the GIL
    (token counts, term counts, the baseline's fits). No process is forked while it runs: a fork
    in the middle of an import would give the child a half-imported module whose lock nobody there
    can release. :func:`on_cores` runs its ranges in threads meanwhile; :func:`aside` and the
    local engine's map workers wait for it (:func:`settle`). Meanwhile the caller must not run
    code that reads the modules being imported (see :func:`settle`).
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="background")
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    _background.append(future)
    return future


def _background_running() -> bool:
    _background[:] = [future for future in _background if not future.done()]
    return bool(_background)


def settle() -> None:
    """Wait for :func:`in_background` work; its outcome stays for whoever reads its future.

    Forks call it first. So must code that may meet a module the background work is still
    importing: datasets' fingerprint hashing reads ``transformers`` and ``torch`` attributes as
    soon as they are in ``sys.modules``, and a half-imported module lacks them.
    """
    while _background:
        wait([_background.pop()])


@contextmanager
def aside(fn: Callable[..., Any], *args: Any) -> Iterator[Future]:
    """``fn(*args)`` in a forked process while this one goes on; the future holds its result.

    For a step of the driver that needs only what it is given and is mostly Python (drawing the
    card's plots while the shards are written). Leaving the block waits for the process. Where
    processes cannot be forked, ``fn`` runs here at once and the future is already done.
    """
    if cores() < 2 or not _can_fork():
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        yield done
        return
    settle()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool.submit(fn, *args)


class Engine(Protocol):
    """Runs batch functions and model steps over a dataset (see the module docstring)."""

    name: str
    progress: bool

    def map(
        self,
        ds: Dataset,
        fn: Callable[..., dict[str, list]],
        *,
        features: Features,
        fn_kwargs: dict[str, Any] | None = None,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int = 1000,
        fingerprint: str | None = None,
    ) -> Dataset: ...

    def map_model(
        self,
        ds: Dataset,
        model_cls: type,
        *,
        init_kwargs: dict[str, Any],
        features: Features,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int,
        fingerprint: str,
    ) -> Dataset: ...

    def close(self) -> None: ...


class _ReleasingPages:
    """``fn``, dropping every 16 batches the pages the process has read of memory-mapped files.

    A map reads its input from a memory-mapped cache file; without this, a worker that reads its
    half of a 2 GB table ends up with 1 GB of it counted in its RSS (see
    :func:`~hf_ftbuilder.memory.release_mapped_pages`).
    """

    every = 16

    def __init__(self, fn: Callable[..., dict[str, list]]) -> None:
        self.fn = fn
        self.calls = 0
        functools.update_wrapper(self, fn)  # its name in progress and logs; its signature for datasets

    def __call__(self, batch: dict[str, list], **kwargs: Any) -> dict[str, list]:
        self.calls += 1
        if self.calls % self.every == 0:
            release_mapped_pages()
        return self.fn(batch, **kwargs)


class LocalEngine:
    """``Dataset.map``, in ``num_cpus`` processes for large inputs (default: every core).

    Args:
        num_cpus: processes for a map of at least ``PARALLEL_MIN_ROWS`` rows.
        progress: draw each step's bar (labelled with its ``desc``).
    """

    name = "local"

    def __init__(self, num_cpus: int | None = None, *, progress: bool = True) -> None:
        self.num_cpus = num_cpus or os.cpu_count() or 1
        self.progress = progress

    def map(
        self,
        ds: Dataset,
        fn: Callable[..., dict[str, list]],
        *,
        features: Features,
        fn_kwargs: dict[str, Any] | None = None,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int = 1000,
        fingerprint: str | None = None,
    ) -> Dataset:
        num_proc = self.num_cpus if self.num_cpus > 1 and ds.num_rows >= PARALLEL_MIN_ROWS else None
        if num_proc:
            settle()
        with step_bar(self.progress):
            return ds.map(
                _ReleasingPages(fn), batched=True, batch_size=batch_size, fn_kwargs=fn_kwargs, features=features,
                remove_columns=remove_columns, desc=desc, num_proc=num_proc, new_fingerprint=fingerprint,
            )

    def map_model(
        self,
        ds: Dataset,
        model_cls: type,
        *,
        init_kwargs: dict[str, Any],
        features: Features,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int,
        fingerprint: str,
    ) -> Dataset:
        # One process: the model's own threads use the cores, and a second copy would double memory.
        with step_bar(self.progress):
            return ds.map(
                model_cls(**init_kwargs), batched=True, batch_size=batch_size, features=features,
                remove_columns=remove_columns, desc=desc, new_fingerprint=fingerprint,
            )

    def close(self) -> None:
        pass


def _apply(table: pa.Table, fn: Callable[..., dict[str, list]], fn_kwargs: dict[str, Any],
           remove: list[str], features: Features) -> pa.Table:
    """Run ``fn`` on one Arrow batch as ``Dataset.map`` would: the input columns it keeps, then its
    output, cast to ``features``."""
    batch = table.to_pydict()
    merged = {k: v for k, v in batch.items() if k not in remove}
    merged.update(fn(batch, **fn_kwargs))
    encoded = features.encode_batch({name: merged[name] for name in features})
    return pa.Table.from_pydict(encoded, schema=features.arrow_schema)


def _apply_task(table: pa.Table, *, fn: Callable[..., dict[str, list]], fn_kwargs: dict[str, Any],
                remove: list[str], features: Features) -> pa.Table:
    return _apply(table, fn, fn_kwargs, remove, features)


class _ModelActor:
    """One Ray actor of a model step: builds the model callable once, then serves batches."""

    def __init__(self, model_cls: type, init_kwargs: dict[str, Any], remove: list[str], features: Features) -> None:
        self.model = model_cls(**init_kwargs)
        self.remove, self.features = remove, features

    def __call__(self, table: pa.Table) -> pa.Table:
        return _apply(table, self.model, {}, self.remove, self.features)


class RayEngine:
    """``ray.data`` ``map_batches`` on a Ray cluster; the global steps stay on this driver.

    Args:
        address: ``local`` starts a cluster in this process with ``num_cpus`` CPUs (unless Ray is
            already initialised here, as a test or notebook may have done); ``auto`` joins the
            cluster running on this machine; anything else is a Ray address (``ray://host:10001``).
        num_cpus: CPUs of the local cluster, and actors per model step.
        cache_dir: results go to ``<cache_dir>/datasets/ray``.
        progress: draw each step's bar.
    """

    name = "ray"

    def __init__(self, *, address: str = "local", num_cpus: int | None = None, cache_dir: Path,
                 progress: bool = True) -> None:
        try:
            import ray  # noqa: F401
            import ray.data  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("ray", "ray", feature="execution.engine: ray") from exc
        self.address = address
        self.num_cpus = num_cpus
        self.folder = cache_dir / "datasets" / "ray"
        self.progress = progress
        self._started = False

    def _ray(self) -> Any:
        import ray
        from ray.data import DataContext

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address == "local":
                kwargs["num_cpus"] = self.num_cpus or os.cpu_count()
            else:
                kwargs["address"] = self.address
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(f"execution.address: cannot reach Ray at {self.address!r}: "
                                  f"{str(exc).splitlines()[0]}") from exc
            self._started = True
        # Ray Data logs every execution plan at INFO; the build's own log says what runs.
        logging.getLogger("ray.data").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        return ray

    def _workers(self) -> int:
        ray = self._ray()
        return max(1, int(self.num_cpus or ray.cluster_resources().get("CPU", 1)))

    def map(
        self,
        ds: Dataset,
        fn: Callable[..., dict[str, list]],
        *,
        features: Features,
        fn_kwargs: dict[str, Any] | None = None,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int = 1000,
        fingerprint: str | None = None,
    ) -> Dataset:
        fn_kwargs = fn_kwargs or {}
        remove = list(remove_columns or [])
        fingerprint = fingerprint or Hasher.hash([ds._fingerprint, fn, fn_kwargs, features, remove, batch_size])

        def transform(rds: Any) -> Any:
            return rds.map_batches(
                _apply_task, batch_format="pyarrow", batch_size=batch_size,
                fn_kwargs={"fn": fn, "fn_kwargs": fn_kwargs, "remove": remove, "features": features},
            )

        return self._run(ds, transform, features, desc, batch_size, fingerprint)

    def map_model(
        self,
        ds: Dataset,
        model_cls: type,
        *,
        init_kwargs: dict[str, Any],
        features: Features,
        remove_columns: list[str] | None = None,
        desc: str,
        batch_size: int,
        fingerprint: str,
    ) -> Dataset:
        remove = list(remove_columns or [])

        def transform(rds: Any) -> Any:
            from ray.data import ActorPoolStrategy

            return rds.map_batches(
                _ModelActor, batch_format="pyarrow", batch_size=batch_size, num_cpus=1,
                compute=ActorPoolStrategy(min_size=1, max_size=self._workers()),
                fn_constructor_kwargs={"model_cls": model_cls, "init_kwargs": init_kwargs, "remove": remove,
                                       "features": features},
            )

        return self._run(ds, transform, features, desc, batch_size, fingerprint)

    def _run(self, ds: Dataset, transform: Callable[[Any], Any], features: Features, desc: str, batch_size: int,
             fingerprint: str) -> Dataset:
        path = self.folder / f"{fingerprint}.arrow"
        if path.exists():
            logger.info("%s: from the cache (%s)", desc, path.name)
            return _open(path, fingerprint)
        ray = self._ray()
        # Blocks are whole batches, so a batch function sees the batches Dataset.map would give it;
        # windows are whole blocks, so the batches are the same however the input is cut.
        block_rows = batch_size * _BLOCK_BATCHES
        row_bytes = ds._estimate_nbytes() / ds.num_rows if ds.num_rows else 1
        window_rows = block_rows * max(1, int(_WINDOW_BYTES / (row_bytes * block_rows)))
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".arrow")
        os.close(fd)
        from tqdm.auto import tqdm

        try:
            with ArrowWriter(features=features, path=tmp) as writer, \
                    tqdm(total=ds.num_rows, desc=f"{desc} (ray)", unit="rows", disable=not self.progress or ds.num_rows < 2) as bar:
                for start in range(0, max(1, ds.num_rows), window_rows):
                    window = ds.select(range(start, min(start + window_rows, ds.num_rows))).with_format("arrow")
                    blocks = [ray.put(block) for block in window.iter(batch_size=block_rows)]
                    release_mapped_pages()  # the window's rows are in the object store now
                    if not blocks:
                        blocks = [ray.put(ds.with_format("arrow")[:0])]
                    for table in transform(ray.data.from_arrow_refs(blocks)).iter_batches(
                            batch_format="pyarrow", batch_size=None):
                        writer.write_table(table)
                        bar.update(table.num_rows)
                    del blocks  # the window leaves the object store before the next one goes in
                written, _ = writer.finalize()
            if written != ds.num_rows:
                raise RuntimeError(f"{desc}: Ray returned {written} rows for {ds.num_rows}")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return _open(path, fingerprint)

    def close(self) -> None:
        """Stop the cluster if this engine started it."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _open(path: Path, fingerprint: str) -> Dataset:
    ds = Dataset.from_file(str(path))
    ds._fingerprint = fingerprint  # later maps chain their cache keys on it, as after Dataset.map
    return ds
