"""Push a built folder to the Hugging Face Hub, exactly as it was built.

Before any request the folder is checked: it must be a complete build (``quality.json``
parses, the card's YAML parses, and every split's ``num_examples`` equals the rows of its parquet
files), so a half-copied or hand-edited folder never reaches the Hub. Then ``create_repo``
(``exist_ok``), a branch when ``revision`` names one, and one ``upload_folder`` commit of the
parquet shards, ``README.md``, ``images/`` and ``quality.json`` (``dropped/`` and ``review/`` only
with ``include_review``). Files the Hub already holds are not sent again, so a push that failed
half-way completes when rerun.

The token comes from ``HF_TOKEN`` or the user's ``huggingface_hub`` login (or the ``token``
argument); it is never printed, logged or written, and it is scrubbed from error messages.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from .errors import FtBuilderError, OutputError

__all__ = ["PushError", "PushResult", "check_build", "files_to_push", "push"]

logger = logging.getLogger(__name__)

_ALWAYS = ("README.md", "quality.json", "data/*", "images/*")
_REVIEW = ("dropped/*", "review/*")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class PushError(FtBuilderError):
    """The Hub refused the push or could not be reached."""


@dataclass
class PushResult:
    """What was (or, for a dry run, would be) uploaded."""

    repo_id: str
    revision: str
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
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


def files_to_push(out_dir: Path, *, include_review: bool = False) -> dict[str, int]:
    """Relative paths and sizes of the files a push uploads, sorted."""
    patterns = _ALWAYS + (_REVIEW if include_review else ())
    out = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir).as_posix()
        if any(fnmatch.fnmatch(rel, pat) for pat in patterns):
            out[rel] = path.stat().st_size
    return out


def _scrub(message: str, token: str | None) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    for secret in filter(None, {token, _env_token()}):
        line = line.replace(secret, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "***", line)


def _env_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


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
    """Upload a built folder to a dataset repo on the Hub (``HF_ENDPOINT`` picks the server).

    Args:
        out_dir: the build folder.
        repo_id: ``org/name``.
        private: create the repo private (an existing repo keeps its visibility).
        revision: a branch to push to (created from main if missing); default main.
        include_review: also upload ``dropped/`` and ``review/``.
        dry_run: list what would be uploaded and send nothing.
        token: a Hub token; default ``HF_TOKEN`` or the saved login.

    Raises:
        OutputError: the folder is not a complete build (checked before any request).
        PushError: the Hub refused or could not be reached; rerunning resumes.
    """
    out_dir = Path(out_dir)
    if not _REPO_ID.match(repo_id):
        raise OutputError(f"--repo-id: {repo_id!r} is not of the form org/name")
    check_build(out_dir)
    result = PushResult(repo_id=repo_id, revision=revision or "main", dry_run=dry_run,
                        files=files_to_push(out_dir, include_review=include_review))
    if dry_run:
        return result
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    patterns = list(_ALWAYS + (_REVIEW if include_review else ()))
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(out_dir),
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            allow_patterns=patterns,
            commit_message=f"Upload {out_dir.name} built by hf_ftbuilder",
        )
    except HfHubHTTPError as exc:
        raise PushError(f"push to {repo_id}: {_scrub(str(exc), token)}") from None
    except (OSError, ValueError) as exc:  # connection refused, timeouts (httpx errors are OSError-like)
        raise PushError(f"push to {repo_id}: {type(exc).__name__}: {_scrub(str(exc), token)}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore", "requests", "urllib3")):
            raise PushError(f"push to {repo_id}: {type(exc).__name__}: {_scrub(str(exc), token)}") from None
        raise
    result.commit_url = getattr(info, "commit_url", None) or str(info)
    logger.info("push: %d files (%d bytes) to %s@%s", len(result.files), result.total_bytes, repo_id, result.revision)
    return result
