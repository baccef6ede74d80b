"""``ftbuild push`` end to end against a loopback Hub-compatible server (tests/hub_server.py).

The pushing ``ftbuild`` and the reading ``load_dataset`` run in subprocesses: ``.ci/run`` sets
``HF_HUB_OFFLINE=1``, and huggingface_hub reads it (and ``HF_ENDPOINT``) at import time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hf_ftbuilder.cli import main

from .conftest import REPO
from .hub_server import COMMIT, serve_hub

TOKEN = "hf_fake_token_for_tests"
FTBUILD = [sys.executable, "-m", "hf_ftbuilder"]

LOAD = """
import json, sys
import datasets
datasets.config.USE_PARQUET_EXPORT = False
dd = datasets.load_dataset(sys.argv[1])
print(json.dumps({name: {"rows": ds.num_rows, "names": ds.features["label"].names} for name, ds in dd.items()}))
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo, built once for the module (a copy per test that edits it)."""
    out = tmp_path_factory.mktemp("push") / "demo"
    assert main(["build", str(REPO / "dataset_scripts" / "demo.yaml"), "-q", "-o", str(out)]) == 0
    return out


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)


def test_push_then_load_from_the_hub(demo: Path, tmp_path: Path) -> None:
    home = tmp_path / "hf_home"
    with serve_hub(tmp_path / "hub") as hub:
        env = hub.env(home)
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
        assert pushed.returncode == 0, pushed.stderr
        assert "uploaded" in pushed.stdout and "data/train-00000-of-00001.parquet" in pushed.stdout
        files = hub.files("org/demo")
        local = {p.relative_to(demo).as_posix(): p.read_bytes() for p in demo.rglob("*") if p.is_file()}
        sent = {k: v for k, v in local.items() if not k.startswith(("dropped/", "review/"))}
        assert {k: files[k] for k in sent} == sent  # card body, images, parquet and quality.json intact
        assert not [k for k in files if k.startswith(("dropped/", "review/"))]
        assert any(k.startswith("images/") for k in files)

        loaded = _run([sys.executable, "-c", LOAD, "org/demo"], env)
        assert loaded.returncode == 0, loaded.stderr
        got = json.loads(loaded.stdout.strip().splitlines()[-1])
        quality = json.loads((demo / "quality.json").read_text())
        assert got == {name: {"rows": entry["num_rows"], "names": ["ham", "spam"]}
                       for name, entry in quality["splits"].items()}
        assert hub.tokens_seen == {f"Bearer {TOKEN}"}

        # The token appears in no output, no log and no file.
        outputs = pushed.stdout + pushed.stderr + loaded.stdout + loaded.stderr
        assert TOKEN not in outputs
        for root in (demo, home, REPO / "dataset_scripts"):
            for path in root.rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    assert TOKEN.encode() not in path.read_bytes(), path


def test_include_review_and_branch(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo", "--include-review",
                       "--revision", "v1", "--private"], hub.env(tmp_path / "home"))
        assert pushed.returncode == 0, pushed.stderr
        files = hub.files("org/demo", revision="v1")
        assert any(k.startswith("dropped/") for k in files) and hub.is_private("org/demo")
        assert "README.md" not in hub.files("org/demo", revision="main")


def test_dry_run_sends_nothing(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        pushed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo", "--dry-run"], hub.env(tmp_path / "home"))
        assert pushed.returncode == 0, pushed.stderr
        assert hub.requests == []
        assert "would upload" in pushed.stdout and "README.md" in pushed.stdout and "dropped/" not in pushed.stdout


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
        again = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
        assert again.returncode == 0, again.stderr
        assert hub.files("org/demo")["README.md"] == (demo / "README.md").read_bytes()


def test_unreachable_hub_is_one_line(demo: Path, tmp_path: Path) -> None:
    with serve_hub(tmp_path / "hub") as hub:
        env = hub.env(tmp_path / "home")
    # The server is stopped now: nothing listens on its port.
    failed = _run([*FTBUILD, "push", str(demo), "--repo-id", "org/demo"], env)
    assert failed.returncode == 2 and failed.stderr.startswith("error: push to org/demo:")
    assert len(failed.stderr.strip().splitlines()) == 1
