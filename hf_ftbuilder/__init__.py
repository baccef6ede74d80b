"""hf_ftbuilder: build high-quality, Hub-ready fine-tuning datasets from one YAML recipe.

>>> import hf_ftbuilder
>>> result = hf_ftbuilder.build("dataset_scripts/demo.yaml")   # doctest: +SKIP
>>> result.dataset["train"]                                      # doctest: +SKIP
"""


from ._version import __version__
from .config import STAGES, Recipe, load_config
from .errors import (
    ConfigError,
    FtBuilderError,
    MissingDependencyError,
    OutputError,
    ReviewError,
    SourceError,
    StageError,
)
from .pipeline import BuildResult, build, crawl, export_tasks
from .push import PushError, PushResult, push
from .review import review
from .stats import StageStats

__all__ = [
    "STAGES",
    "BuildResult",
    "ConfigError",
    "FtBuilderError",
    "MissingDependencyError",
    "OutputError",
    "PushError",
    "PushResult",
    "Recipe",
    "ReviewError",
    "SourceError",
    "StageError",
    "StageStats",
    "__version__",
    "build",
    "crawl",
    "export_tasks",
    "load_config",
    "push",
    "review",
]
