"""The exceptions hf_ftbuilder raises.

Every error the project raises on purpose derives from :class:`FtBuilderError`; the CLI prints
its message as ``error: <message>`` and exits with code 2. Messages are one line and name the
cause: the recipe key path, the file and line, or the class that is too small.

Tree::

    FtBuilderError
    ├── ConfigError             the recipe is missing, does not parse, or fails validation
    ├── SourceError             an input file is missing or malformed (names file and line)
    ├── StageError              a stage cannot go on (empty corpus, a class too small to split)
    │   └── OutputError         the output folder exists, or cannot be written
    ├── MissingDependencyError  an optional package is needed; names the pip extra to install
    └── ReviewError             the review page cannot start (no build yet, the port is taken)

A bad *record* in a well-formed input (an empty text, an unknown label, a page that does not
extract) is not an error: the stage drops it with a named reason and counts it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FtBuilderError",
    "MissingDependencyError",
    "OutputError",
    "ReviewError",
    "SourceError",
    "StageError",
]


class FtBuilderError(Exception):
    """Base class of every error hf_ftbuilder raises on purpose."""


class ConfigError(FtBuilderError):
    """The recipe is missing, is not valid YAML, or does not validate."""


class SourceError(FtBuilderError):
    """An input is missing or malformed; the message names the file (and line)."""


class StageError(FtBuilderError):
    """A stage cannot produce a dataset from what it was given."""


class OutputError(StageError):
    """The output folder cannot be written (it exists without overwrite, or a write failed)."""


class MissingDependencyError(FtBuilderError):
    """An optional dependency is not installed.

    Args:
        package: the import name that is missing.
        extra: the ``hf_ftbuilder`` extra that installs it.
        feature: what needs it, as the recipe says it (``execution.engine: ray``).
    """

    def __init__(self, package: str, extra: str, feature: str = "this feature") -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed; install it with "
            f"pip install 'hf_ftbuilder[{extra}]'"
        )


class ReviewError(FtBuilderError):
    """``ftbuild review`` cannot serve: the recipe was never built, the folder is not a build, the port is taken."""
