"""``ftbuild push`` end to end against a loopback Hub-compatible server (tests/hub_server.py).

The pushing ``ftbuild`` and the reading ``load_dataset`` run in subprocesses: ``.ci/run`` sets
``HF_HUB_OFFLINE=1``, and huggingface_hub reads it (and ``HF_ENDPOINT``) at import time.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hf_ftbuilder import build, load_config
from hf_ftbuilder.push import files_to_push, hub_card, stale_files

from .conftest import REPO
from .hub_server import COMMIT, serve_hub

TOKEN = "hf_fake_token_for_tests"
FTBUILD = [sys.executable, "-m", "hf_ftbuilder"]
OLD_SHARDS = [f"data/train-0000{i}-of-00003.parquet" for i in range(3)]
USER_FILES = {"notes.md": b"# Our notes\n", "scripts/x.py": b"print('ours')\n"}

LOAD = """
import json, sys
import datasets
datasets.config.USE_PARQUET_EXPORT = False
out = {}
for revision in sys.argv[2:] or ["main"]:
    dd = datasets.load_dataset(sys.argv[1], revision=revision)
    out[revision] = {name: {"rows": ds.num_rows, "names": ds.features["label"].names, "ids": list(ds["id"])}
                     for name, ds in dd.items()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    """The demo, built once for the session (a copy per test that edits it): one shard per split."""
    return demo_run[0]


@pytest.fixture(scope="module")
def demo_3_shards(tmp_path_factory) -> Path:
    """The same demo with its ~4,049 train rows in 3 shards (``output.shard_rows: 1500``), built once.
    Built from the demo's own recipe object, so it shares the demo's cache (embeddings for the report)."""
    recipe = load_config(REPO / "dataset_scripts" / "demo.yaml")
    recipe = recipe.model_copy(update={"output": recipe.output.model_copy(update={"shard_rows": 1500})})
    out = tmp_path_factory.mktemp("push3") / "demo_3_shards"
    build(recipe, output_dir=out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "data").glob("train-*")) == OLD_SHARDS
    return out


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)


def _local(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _split_ids(folder: Path) -> dict[str, list[str]]:
    """Each split's ``id`` column, shards in name order (the order ``load_dataset`` reads them)."""
    out: dict[str, list[str]] = {}
    for shard in sorted((folder / "data").glob("*.parquet")):
        out.setdefault(shard.name.split("-")[0], []).extend(pq.read_table(shard, columns=["id"])["id"].to_pylist())
    return out


def _deletions(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.split()[:1] == ["delete"]]


def _unreplaced(pushed_card: bytes, local_card: bytes, repo_id: str) -> bytes:
    """The pushed card with its one ``load_dataset("<repo_id>")`` put back as the local card has it."""
    local_call = re.search(rb"""load_dataset\((["'])[^"'\n]*\1""", local_card)
    assert local_call is not None, "the build's card has no load_dataset snippet"
    quote = local_call.group(1)
    pushed_call = b"load_dataset(" + quote + repo_id.encode() + quote
    assert pushed_card.count(pushed_call) == 1, pushed_card.decode()
    return pushed_card.replace(pushed_call, local_call.group(0))


def test_push_then_load_from_the_hub(demo: Path, tmp_path: Path) -> None:
    home = tmp_path / "hf_home"
    local = _local(demo)
    with serve_hub(tmp_path / "hub") as hub:
        env = hub.env(home)
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
        assert pushed.returncode == 0, pushed.stderr
        assert "data/train-00000-of-00001.parquet" in pushed.stdout
        assert pushed.stdout.splitlines()[-1].startswith("uploaded ")
        assert pushed.stdout.splitlines()[-1].endswith(" and deleted 0 files in org/demo@main")
        files = hub.files("org/demo")
        sent = {k: v for k, v in local.items() if not k.startswith(("dropped/", "review/"))}
        assert set(files) == set(sent)
        # The card shows load_dataset("org/demo") and is otherwise the local card byte for byte;
        # images, parquet and quality.json are intact; the local card is untouched.
        assert b'load_dataset("org/demo")' in files["README.md"]
        assert _unreplaced(files["README.md"], local["README.md"], "org/demo") == local["README.md"]
        del files["README.md"], sent["README.md"]
        assert files == sent
        assert _local(demo) == local
        assert any(k.startswith("images/") for k in files) and "recipe.yaml" in files

        loaded = _run([sys.executable, "-c", LOAD, "org/demo"], env)
        assert loaded.returncode == 0, loaded.stderr
        got = json.loads(loaded.stdout.strip().splitlines()[-1])["main"]
        quality = json.loads((demo / "quality.json").read_text())
        assert {name: {"rows": s["rows"], "names": s["names"]} for name, s in got.items()} == {
            name: {"rows": entry["num_rows"], "names": ["ham", "spam"]} for name, entry in quality["splits"].items()}
        assert hub.tokens_seen == {f"Bearer {TOKEN}"}

        # The token appears in no output, no log and no file.
        outputs = pushed.stdout + pushed.stderr + loaded.stdout + loaded.stderr
        assert TOKEN not in outputs
        for root in (demo, home, REPO / "dataset_scripts"):
            for path in root.rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    assert TOKEN.encode() not in path.read_bytes(), path


def _push_smaller_build(hub, env: dict[str, str], build: Path, branch: str, before: dict[str, bytes], *,
                        dry_run_first: bool) -> set[str]:
    """Push ``build`` over ``before`` (3 train shards and the user's files) to ``branch`` (first as a
    dry run, with ``dry_run_first``, that must list exactly the deletions the push makes); returns the
    LFS objects the push sent."""
    rev_args = [] if branch == "main" else ["--revision", branch]
    if dry_run_first:
        seen = len(hub.log)
        dry = _run([*FTBUILD, "push", str(build), "--repo-id", "org/demo", "--dry-run", *rev_args], env)
        assert dry.returncode == 0, dry.stderr
        assert {method for method, _ in hub.requests[seen:]} == {"GET"}  # no preupload, LFS or commit
        assert _deletions(dry.stdout) == OLD_SHARDS
        assert dry.stdout.splitlines()[-1].endswith(f" and would delete 3 files in org/demo@{branch}")

    seen = len(hub.log)
    pushed = _run([*FTBUILD, "push", str(build), "--repo-id", "org/demo", *rev_args], env)
    assert pushed.returncode == 0, pushed.stderr
    assert "      delete  data/train-00000-of-00003.parquet" in pushed.stdout.splitlines()
    assert _deletions(pushed.stdout) == OLD_SHARDS
    assert pushed.stdout.splitlines()[-1].endswith(f" and deleted 3 files in org/demo@{branch}")
    requests = hub.requests[seen:]
    assert len([path for method, path in requests if method == "POST" and re.search(COMMIT, path)]) == 1
    # Objects the Hub already holds (validation and test shards, images) are not sent again.
    held = {hashlib.sha256(data).hexdigest() for data in before.values()}
    sent = {path.rsplit("/", 1)[-1] for method, path in requests if method == "PUT"}
    assert not sent & held

    after = hub.files("org/demo", branch)
    assert sorted(set(before) - set(after)) == OLD_SHARDS
    local = {k: v for k, v in _local(build).items() if not k.startswith(("dropped/", "review/"))}
    assert set(after) == set(local) | set(USER_FILES) | {".gitattributes"}
    assert {k: after[k] for k in USER_FILES} == USER_FILES
    assert {k: after[k] for k in local if k != "README.md"} == {k: v for k, v in local.items() if k != "README.md"}
    return sent


def test_a_smaller_build_replaces_the_larger_one(demo: Path, demo_3_shards: Path, tmp_path: Path) -> None:
    """The bug: a 1-shard build pushed over a 3-shard one left 8,098 train rows where 4,049 belong.

    3 shards on main, then a user's files; the 1-shard build pushed to a new branch v1 (it starts
    from main), then to main: each holds exactly the new build plus the user's files."""
    with serve_hub(tmp_path / "hub", gitattributes=True) as hub:
        env = hub.env(tmp_path / "home")
        first = _run([*FTBUILD, "push", str(demo_3_shards), "--repo-id", "org/demo"], env)
        assert first.returncode == 0, first.stderr
        hub.add_files("org/demo", USER_FILES)
        before, head = hub.files("org/demo"), hub.head("org/demo")
        assert set(OLD_SHARDS) | set(USER_FILES) <= set(before)

        new_shard = hashlib.sha256((demo / "data" / "train-00000-of-00001.parquet").read_bytes()).hexdigest()
        # v1 does not exist yet: the dry run lists what the push deletes from main's files, where v1 starts.
        assert _push_smaller_build(hub, env, demo, "v1", before, dry_run_first=True) == {new_shard}
        assert hub.head("org/demo") == head and hub.files("org/demo") == before  # main untouched
        sent = _push_smaller_build(hub, env, demo, "main", before, dry_run_first=False)
        assert sent == set()  # the repo holds the new shard since the push to v1

        loaded = _run([sys.executable, "-c", LOAD, "org/demo", "main", "v1"], env)
        assert loaded.returncode == 0, loaded.stderr
        got = json.loads(loaded.stdout.strip().splitlines()[-1])
        expected = _split_ids(demo)
        for branch in ("main", "v1"):
            assert {name: s["rows"] for name, s in got[branch].items()} == {n: len(ids) for n, ids in expected.items()}
            assert got[branch]["train"]["ids"] == expected["train"]


def test_include_review_and_branch(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo", "--include-review",
                       "--revision", "v1", "--private"], hub.env(tmp_path / "home"))
        assert pushed.returncode == 0, pushed.stderr
        files = hub.files("org/demo", revision="v1")
        assert any(k.startswith("dropped/") for k in files) and hub.is_private("org/demo")
        assert "README.md" not in hub.files("org/demo", revision="main")


def test_dry_run_of_a_new_repo_only_reads(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo", "--dry-run"], hub.env(tmp_path / "home"))
        assert pushed.returncode == 0, pushed.stderr
        assert hub.requests == [("GET", "/api/datasets/org/demo/revision/main")]  # 404: nothing to delete
        assert "README.md" in pushed.stdout and "dropped/" not in pushed.stdout and not _deletions(pushed.stdout)
        assert pushed.stdout.splitlines()[-1].startswith("would upload ")
        assert pushed.stdout.splitlines()[-1].endswith(" and would delete 0 files in org/demo@main")


@pytest.mark.parametrize("damage", ["no_quality", "bad_yaml", "wrong_count"])
def test_incomplete_folder_is_refused_before_any_request(demo: Path, tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    readme = copy / "README.md"
    if damage == "no_quality":
        (copy / "quality.json").unlink()
        expected = "is not a complete hf_ftbuilder build (no quality.json)"
    elif damage == "bad_yaml":
        readme.write_text(readme.read_text().replace("license:", "license: [", 1))
        expected = "the card's YAML does not parse"
    else:
        text = readme.read_text()
        readme.write_text(text.replace("num_examples: 506", "num_examples: 507", 1))
        expected = "says num_examples 507 but its parquet files hold 506 rows"
    with serve_hub(tmp_path / "hub") as hub:
        pushed = _run([*FTBUILD, "push", str(copy), "--repo-id", "org/demo"], hub.env(tmp_path / "home"))
        assert pushed.returncode == 2
        assert expected in pushed.stderr and len(pushed.stderr.strip().splitlines()) == 1
        assert hub.requests == []


def test_a_failed_upload_can_be_rerun(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        env = hub.env(tmp_path / "home")
        hub.fail_next(COMMIT, status=500)
        failed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
        assert failed.returncode == 2
        assert failed.stderr.startswith("error: push to org/demo:") and len(failed.stderr.strip().splitlines()) == 1
        assert TOKEN not in failed.stderr
        assert "README.md" not in hub.files("org/demo")
        uploaded = {path for method, path in hub.requests if method == "PUT"}
        assert uploaded  # the LFS objects (parquet, images) went up before the commit failed
        seen = len(hub.log)
        again = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
        assert again.returncode == 0, again.stderr
        assert [path for method, path in hub.requests[seen:] if method == "PUT"] == []  # not sent twice
        local = (demo / "README.md").read_bytes()
        assert _unreplaced(hub.files("org/demo")["README.md"], local, "org/demo") == local


def test_unreachable_hub_is_one_line(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        env = hub.env(tmp_path / "home")
    # The server is stopped now: nothing listens on its port. A dry run reads the repo, so it fails too.
    for dry_run in ([], ["--dry-run"]):
        failed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo", *dry_run], env)
        assert failed.returncode == 2 and failed.stderr.startswith("error: push to org/demo:")
        assert len(failed.stderr.strip().splitlines()) == 1


# -- the pieces, without a server ----------------------------------------------------------------------


def test_files_to_push_are_the_build_kinds(tmp_path: Path) -> None:
    for rel in ["README.md", "quality.json", "recipe.yaml", "data/train-00000-of-00001.parquet",
                "images/lengths.png", "dropped/dedup.parquet", "review/label_issues.parquet", "notes.md",
                "scripts/x.py", "data.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * len(rel))
    build = ["README.md", "data/train-00000-of-00001.parquet", "images/lengths.png", "quality.json", "recipe.yaml"]
    assert files_to_push(tmp_path) == {rel: len(rel) for rel in build}
    review = ["dropped/dedup.parquet", "review/label_issues.parquet"]
    assert files_to_push(tmp_path, include_review=True) == {rel: len(rel) for rel in sorted(build + review)}


def test_stale_files_are_the_build_kinds_the_build_no_longer_has() -> None:
    remote = [".gitattributes", "README.md", "notes.md", "scripts/x.py", "recipe.yaml", "quality.json",
              *OLD_SHARDS, "data/test-00000-of-00001.parquet", "images/old_plot.png", "images/lengths.png",
              "dropped/dedup.parquet", "review/old.parquet", "README.MD", "Data/x.parquet"]
    local = ["README.md", "quality.json", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet",
             "images/lengths.png", "dropped/dedup.parquet"]
    stale = ["data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet",
             "data/train-00002-of-00003.parquet", "images/old_plot.png", "recipe.yaml"]
    assert stale_files(remote, local) == stale
    assert stale_files(remote, local, include_review=True) == sorted(stale + ["review/old.parquet"])
    assert stale_files([], local) == []


@pytest.mark.parametrize(("card", "pushed"), [
    ('ds = load_dataset("demo")\n', 'ds = load_dataset("org/name")\n'),
    ("ds = load_dataset('path/to/this/folder')\n", "ds = load_dataset('org/name')\n"),
    ('datasets.load_dataset( "demo", split="train")', 'datasets.load_dataset( "org/name", split="train")'),
    ('load_dataset(path="demo")\nload_dataset("x")', 'load_dataset(path="org/name")\nload_dataset("org/name")'),
    ("from datasets import load_dataset\r\n\r\nload_dataset('a\"b')\r\n",
     "from datasets import load_dataset\r\n\r\nload_dataset('org/name')\r\n"),
    ('no call: my_load_dataset("x"), load_dataset(name)\n', 'no call: my_load_dataset("x"), load_dataset(name)\n'),
])
def test_hub_card_points_load_dataset_at_the_repo(card: str, pushed: str) -> None:
    assert hub_card(card, "org/name") == pushed
