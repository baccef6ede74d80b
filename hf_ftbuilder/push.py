"""Push a built folder to the Hugging Face Hub so the repo (or a branch) equals the build.

Before any request the folder is checked: it must be a complete build (``quality.json``
parses, the card's YAML parses, and every split's ``num_examples`` equals the rows of its parquet
files), so a half-copied or hand-edited folder never reaches the Hub.

A push then makes the target equal the build in ONE commit. The build's kinds of file are
``README.md``, ``quality.json``, ``recipe.yaml``, ``data/*`` and ``images/*`` (``dropped/*`` and
``review/*`` too with ``include_review``). Every local file of those kinds is added; every remote
file of those kinds that the build no longer has is deleted in the same commit, so a 1-shard build
pushed over a 3-shard one leaves no stale shard for ``load_dataset`` to read twice. Anything else in
the repo (``.gitattributes``, a user's ``notes.md`` or ``scripts/``) is kept, and so are remote
``dropped/``/``review/`` files when ``include_review`` is off.

Why ``HfApi.create_commit`` and not ``upload_folder(delete_patterns=...)``: with ``hf_xet``
installed (the default), ``upload_folder`` streams through a pipeline that may split a folder into
several commits (deletions go with the first), so the repo could be seen half old and half new; and it
reads every file from disk, while the pushed card differs from the local one (below). Here the
deletions come from one listing (``repo_info`` for the head commit, then ``list_repo_files`` at that
commit), which a dry run shares, and the commit names that head as ``parent_commit``: if someone
committed in between, the Hub refuses (412) instead of the push deleting from a tree it never saw.
``create_commit`` still skips files whose content the Hub already holds and the LFS batch API skips
objects it already has, so a push that failed half-way completes when rerun without sending the
shards again.

The card: a build's README shows ``load_dataset("<name>")``; the pushed README has the repo
id there instead (see :func:`hub_card`). The local folder is not modified.

The token comes from ``HF_TOKEN`` or the user's ``huggingface_hub`` login (or the ``token``
argument); it is never printed, logged or written, and it is scrubbed from error messages.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import yaml

from .errors import FtBuilderError, OutputError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = ["PushError", "PushResult", "check_build", "files_to_push", "hub_card", "push", "stale_files"]

logger = logging.getLogger(__name__)

# fnmatch's `*` also matches `/`: everything under data/ (or images/ ...) belongs to the build.
_ALWAYS = ("README.md", "quality.json", "recipe.yaml", "data/*", "images/*")
_REVIEW = ("dropped/*", "review/*")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# The string literal right after `load_dataset(` (optionally `path=`), in either quote, on one line:
# `load_dataset("demo")`, `datasets.load_dataset('demo', split="train")`, `load_dataset(path="demo")`.
_LOAD_ARG = re.compile(r"""(\bload_dataset\(\s*(?:path\s*=\s*)?)(?:"[^"\n]*"|'[^'\n]*')""")


class PushError(FtBuilderError):
    """The Hub refused the push or could not be reached."""


@dataclass
class PushResult:
    """What was (or, for a dry run, would be) uploaded and deleted."""

    repo_id: str
    revision: str
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes sent
    deleted: list[str] = field(default_factory=list)  # remote paths removed by the commit, sorted
    dry_run: bool = False
    commit_url: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def _card_metadata(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, flags=re.S)
    if not match:
        raise OutputError(f"{readme}: the card has no YAML metadata block; rebuild the folder")
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise OutputError(f"{readme}: the card's YAML does not parse ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise OutputError(f"{readme}: the card's YAML is not a mapping")
    return data


def check_build(out_dir: Path) -> None:
    """Refuse a folder that is not a complete build.

    Raises:
        OutputError: no ``quality.json`` (or it does not parse), no card or a card whose YAML does
            not parse, or a split whose ``num_examples`` disagrees with its parquet files.
    """
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir}: no such folder")
    quality = out_dir / "quality.json"
    if not quality.is_file():
        raise OutputError(f"{out_dir} is not a complete hf_ftbuilder build (no quality.json)")
    try:
        json.loads(quality.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise OutputError(f"{quality}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    readme = out_dir / "README.md"
    if not readme.is_file():
        raise OutputError(f"{out_dir} is not a complete build (no README.md card)")
    meta = _card_metadata(readme)
    splits = (meta.get("dataset_info") or {}).get("splits") or []
    if not splits:
        raise OutputError(f"{readme}: the card lists no splits in dataset_info")
    for split in splits:
        files = sorted((out_dir / "data").glob(f"{split['name']}-*.parquet"))
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        if rows != split.get("num_examples"):
            raise OutputError(
                f"{readme}: split {split['name']!r} says num_examples {split.get('num_examples')} but its "
                f"parquet files hold {rows} rows"
            )


def _kinds(include_review: bool) -> tuple[str, ...]:
    return _ALWAYS + (_REVIEW if include_review else ())


def _of_kind(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in patterns)


def files_to_push(out_dir: Path, *, include_review: bool = False) -> dict[str, int]:
    """Relative paths and sizes of the build's files of the pushed kinds, sorted."""
    patterns = _kinds(include_review)
    out = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if _of_kind(rel, patterns):
            out[rel] = path.stat().st_size
    return out


def stale_files(remote: Iterable[str], local: Iterable[str], *, include_review: bool = False) -> list[str]:
    """The remote files of the build's kinds that the build no longer has, sorted: what a push deletes.

    Files of other kinds (``.gitattributes``, a user's ``notes.md``) are never stale, nor are
    ``dropped/``/``review/`` files unless ``include_review`` (a push without it does not own them).
    """
    patterns, keep = _kinds(include_review), set(local)
    return sorted(p for p in remote if p not in keep and _of_kind(p, patterns))


def hub_card(text: str, repo_id: str) -> str:
    """The card as pushed: the first string argument of every ``load_dataset(`` call becomes ``repo_id``.

    The quote style is kept and nothing else changes; a card without such a call comes back as is.
    """
    return _LOAD_ARG.sub(lambda m: f"{m.group(1)}{m.group(0)[-1]}{repo_id}{m.group(0)[-1]}", text)


def _scrub(message: str, token: str | None) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    for secret in filter(None, {token, _env_token()}):
        line = line.replace(secret, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "***", line)


def _env_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


@contextmanager
def _hub_errors(repo_id: str, token: str | None) -> Iterator[None]:
    """Turn what the Hub or the network raises into a one-line PushError without the token."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as exc:
        raise PushError(f"push to {repo_id}: {_scrub(str(exc), token)}") from None
    except (OSError, ValueError) as exc:  # connection refused, timeouts (httpx errors are OSError-like)
        raise PushError(f"push to {repo_id}: {type(exc).__name__}: {_scrub(str(exc), token)}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            raise PushError(f"push to {repo_id}: {type(exc).__name__}: {_scrub(str(exc), token)}") from None
        raise


def _remote_state(api: HfApi, repo_id: str, revision: str) -> tuple[str | None, list[str]]:
    """The commit a push to ``revision`` builds on, and its files: the branch's head; main's head for a
    branch not created yet (the branch will start there); ``(None, [])`` for a repo not created yet.
    Reads only (two GETs)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        try:
            head = api.repo_info(repo_id, repo_type="dataset", revision=revision).sha
        except RevisionNotFoundError:
            if revision == "main":
                raise
            head = api.repo_info(repo_id, repo_type="dataset", revision="main").sha
    except RepositoryNotFoundError:
        return None, []
    return head, api.list_repo_files(repo_id, repo_type="dataset", revision=head)


def push(
    out_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    include_review: bool = False,
    dry_run: bool = False,
    token: str | None = None,
) -> PushResult:
    """Make a dataset repo on the Hub (``HF_ENDPOINT`` picks the server) equal a built folder, in one commit.

    Args:
        out_dir: the build folder.
        repo_id: ``org/name``.
        private: create the repo private (an existing repo keeps its visibility).
        revision: a branch to push to (created from main if missing); default main.
        include_review: also upload ``dropped/`` and ``review/`` (and delete stale files there).
        dry_run: list what would be uploaded and deleted; only reads from the Hub.
        token: a Hub token; default ``HF_TOKEN`` or the saved login.

    Returns:
        The :class:`PushResult`: files sent (the card at its pushed size), remote files deleted.

    Raises:
        OutputError: the folder is not a complete build (checked before any request).
        PushError: the Hub refused or could not be reached; rerunning resumes.
    """
    out_dir = Path(out_dir)
    if not _REPO_ID.match(repo_id):
        raise OutputError(f"--repo-id: {repo_id!r} is not of the form org/name")
    check_build(out_dir)
    branch = revision or "main"
    files = files_to_push(out_dir, include_review=include_review)
    card = hub_card((out_dir / "README.md").read_bytes().decode("utf-8"), repo_id).encode("utf-8")
    files["README.md"] = len(card)
    result = PushResult(repo_id=repo_id, revision=branch, dry_run=dry_run, files=files)

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    with _hub_errors(repo_id, token):
        if dry_run:
            _, remote = _remote_state(api, repo_id, branch)
            result.deleted = stale_files(remote, files, include_review=include_review)
            return result
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, repo_type="dataset", branch=branch, exist_ok=True)
        head, remote = _remote_state(api, repo_id, branch)
        result.deleted = stale_files(remote, files, include_review=include_review)
        operations = [CommitOperationDelete(path_in_repo=path, is_folder=False) for path in result.deleted]
        operations += [CommitOperationAdd(path_in_repo=path,
                                          path_or_fileobj=card if path == "README.md" else str(out_dir / path))
                       for path in files]
        info = api.create_commit(
            repo_id,
            operations,
            commit_message=f"Upload {out_dir.name} built by hf_ftbuilder",
            repo_type="dataset",
            revision=branch,
            parent_commit=head,
        )
    result.commit_url = info.commit_url
    logger.info("push: %d files (%d bytes) sent, %d deleted, to %s@%s", len(files), result.total_bytes,
                len(result.deleted), repo_id, branch)
    return result
