"""What every stage gets beside its rows and its own config section.

A stage function has one shape, ``stage(ds, cfg, *, context) -> (Dataset | DatasetDict, StageStats)``:
the rows, the stage's own part of the recipe, and this context, which says what the stage may
need of the build around it (the seed every random step derives from, the recipe's folder that
relative paths start from, the cache that outlives a build, where map steps run and whether bars
are drawn). The pipeline makes one per build; a library user calling a stage directly gets the
defaults: seed 42, the working directory, no cache, this process, bars on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .engine import Engine, LocalEngine

__all__ = ["StageContext"]


@dataclass(frozen=True)
class StageContext:
    """The build around a stage.

    Attributes:
        seed: every random step (splits, sampling, clustering, MinHash permutations) derives from it.
        base_dir: the recipe's folder; relative paths in the recipe start there.
        cache_dir: state that outlives a build (fetch, embedding and map caches, a fitted clusterer);
            None: nothing is kept.
        engine: where map and model steps run.
        progress: whether named steps draw progress bars.
    """

    seed: int = 42
    base_dir: Path = field(default_factory=Path.cwd)
    cache_dir: Path | None = None
    engine: Engine = field(default_factory=LocalEngine)
    progress: bool = True
