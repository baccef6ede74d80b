"""The optional parts of hf_ftbuilder and the packages that bring them (``pip install 'hf_ftbuilder[X]'``).

The core (collect, extract, clean, dedup, labels from a column, split, balance, a report without
the model figures, write, push) installs without torch. The extras:

- ``models``: torch, transformers and the offline all-MiniLM-L6-v2: zero-shot, embedding and
  kmeans-on-embeddings labels, model suggestions, embedding leakage, token counts and the embedding
  figures of the report;
- ``plots``: matplotlib, for the card's PNG plots;
- ``ray``: Ray Data, for ``execution.engine: ray``;
- ``review``: Starlette and uvicorn, for the review page (``ftbuild review``);
- ``all``: every one of them.

Whether an extra is installed is read from the import system without importing anything (torch
alone takes seconds to import), so asking costs nothing.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingDependencyError

__all__ = ["EXTRAS", "available", "missing_package", "require"]

#: The import names each extra must make importable.
EXTRAS: dict[str, tuple[str, ...]] = {
    "models": ("torch", "transformers"),
    "plots": ("matplotlib",),
    "ray": ("ray",),
    "review": ("starlette", "uvicorn"),
}


def missing_package(extra: str) -> str | None:
    """The first package of ``extra`` that cannot be imported, or None when all can."""
    for package in EXTRAS[extra]:
        if importlib.util.find_spec(package) is None:
            return package
    return None


def available(extra: str) -> bool:
    """Whether every package of ``extra`` is installed."""
    return missing_package(extra) is None


def require(extra: str, feature: str) -> None:
    """Stop with one line naming the ``pip install`` to run when ``extra`` is not installed.

    Args:
        extra: a key of :data:`EXTRAS`.
        feature: what needs it, as the recipe says it (``label.method: zero_shot``).

    Raises:
        MissingDependencyError: a package of the extra is missing.
    """
    package = missing_package(extra)
    if package is not None:
        raise MissingDependencyError(package, extra, feature=feature)
