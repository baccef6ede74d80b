"""A Hugging Face Hub look-alike on 127.0.0.1 for push and load tests.

``with serve_hub(tmp_path) as hub:`` starts it on a free port in a daemon thread. Point the real
client at it with ``HF_ENDPOINT=hub.url`` and ``HF_HUB_DISABLE_XET=1`` (this server speaks plain
git-LFS, not Xet), in a subprocess, because huggingface_hub reads both when it is imported. With
``datasets``, also set ``datasets.config.USE_PARQUET_EXPORT = False``: otherwise it asks
``datasets-server.<host>`` for a parquet export, a name that needs a DNS lookup. ``hub.env(home)``
gives a subprocess environment with all the variables set.

It implements what huggingface_hub 2.4 sends for ``create_repo``, ``repo_info``/``dataset_info``,
``create_branch``, ``list_repo_refs``/``list_repo_commits``, ``upload_folder``/``create_commit``
(preupload, LFS batch + PUT + verify, NDJSON commit), ``list_repo_tree``, ``get_paths_info``,
``hf_hub_download`` and ``HfFileSystem`` (HEAD/GET ``/resolve`` with ranges), which is what
``datasets.load_dataset("org/name")`` and ``DatasetDict.push_to_hub`` use. Unknown routes answer 404
and stay in the request log, so a test can see what a new client version asks for.

File contents live under ``root/blobs/<sha256>``; repos, branches and commits live in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socketserver
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

# Path patterns for fail_next(): the LFS object uploads (PUT) and the commit endpoint.
LFS_UPLOAD = r"^/_lfs/.+/[0-9a-f]{64}$"
COMMIT = r"^/api/[a-z]+s/[^/]+/[^/]+/commit/"

USER = "user"  # whoami name, and the namespace of create_repo("name") without one
# Stored as LFS whatever the size, like the Hub's default .gitattributes.
LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".h5", ".onnx",
                ".msgpack", ".npy", ".npz", ".pkl", ".pickle", ".zip", ".gz", ".tgz", ".tar", ".zst",
                ".xz", ".bz2", ".7z", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".wav", ".mp3",
                ".flac", ".mp4", ".pdf", ".model", ".tflite", ".joblib", ".lance")
_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}
_T = r"(?P<t>models|datasets|spaces|kernels)"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_URL_T = r"(?:(?P<t>datasets|spaces|kernels)/)?"
_PAGE = 1000  # tree entries per page (the Hub's cap; 50 with expand)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class _Entry:
    """A file in a commit's tree. ``git_oid`` is what git would store: the blob or the LFS pointer."""

    sha256: str
    size: int
    lfs: bool
    blob_oid: str = ""  # git sha1 of the content, for regular files

    @property
    def pointer(self) -> bytes:
        return _lfs_pointer(self.sha256, self.size)

    @property
    def git_oid(self) -> str:
        return _git_oid(self.pointer) if self.lfs else self.blob_oid


@dataclass
class _Commit:
    oid: str
    parent: str | None
    tree: dict[str, _Entry]
    title: str
    message: str
    date: str


@dataclass
class _Repo:
    kind: str  # model, dataset, space, kernel
    repo_id: str
    private: bool
    created: str
    branches: dict[str, str] = field(default_factory=dict)  # name (main, refs/pr/1) -> commit oid
    commits: dict[str, _Commit] = field(default_factory=dict)
    lfs_oids: set[str] = field(default_factory=set)  # LFS objects uploaded to this repo
    prs: int = 0


@dataclass
class Request:
    """One request as the server saw it; ``status`` is filled in when the answer is sent."""

    method: str
    path: str  # URL-decoded, without the query
    query: str
    time: float  # time.monotonic() when the headers were read
    authorization: str | None
    status: int | None = None


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    method: str | None
    status: int
    skip: int  # matching requests to let through first
    times: int  # then fail this many, all for the path of the first failure
    path: str | None = None


class Hub:
    """What ``serve_hub()`` yields: the URL, the request log, the stored repos and fault injection."""

    def __init__(self, root: Path, gitattributes: bool) -> None:
        self.url = ""
        self.root = root
        self.gitattributes = gitattributes
        self.log: list[Request] = []
        self.tokens_seen: set[str] = set()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._counter = 0
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    # -- for tests ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, in arrival order."""
        with self._lock:
            return [(r.method, r.path) for r in self.log]

    def fail_next(self, pattern: str, status: int = 500, times: int = 1, *, method: str | None = None,
                  skip: int = 0) -> None:
        """Fail requests whose URL-decoded path matches ``pattern`` (re.search) and ``method``.

        The first ``skip`` matches pass; the next match gets ``status`` and so do its repeats (same
        path), ``times`` answers in all, so ``fail_next(LFS_UPLOAD, skip=1)`` fails the 2nd object
        uploaded and retries of it, not the uploads running beside it. huggingface_hub retries
        408/429/5xx on LFS PUTs, preupload and LFS batch (5 retries after 1, 2, 4, 8, 8 s), so a single
        500 there is absorbed: use ``times=6`` (~23 s) or a 4xx to make the upload fail. The commit POST
        is not retried: one 500 there makes ``upload_folder`` raise.
        """
        with self._lock:
            self._faults.append(_Fault(re.compile(pattern), method, status, skip, times))

    def env(self, hf_home: Path | str, token: str | None = "hf_fake_token_for_tests",
            base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a client subprocess: ``base`` (default os.environ) without offline or
        endpoint settings, pointed at this server. HF_UPDATE_DOWNLOAD_COUNTS=0 stops ``datasets``
        from sending a HEAD to s3.amazonaws.com on every load_dataset of a Hub repo."""
        env = {k: v for k, v in (os.environ if base is None else base).items()
               if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN",
                            "HF_HUB_ENABLE_HF_TRANSFER", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN")}
        env.update(HF_ENDPOINT=self.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(hf_home),
                   HF_HUB_DISABLE_TELEMETRY="1", HF_UPDATE_DOWNLOAD_COUNTS="0",
                   HF_HUB_DISABLE_PROGRESS_BARS="1")
        if token is not None:
            env["HF_TOKEN"] = token
        return env

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision`` (branch or commit), read from the blob store."""
        with self._lock:
            commit = self._resolve(self._repos[(repo_type, repo_id)], revision)
            assert commit is not None, f"no revision {revision!r} in {repo_id}"
            return {path: self._blob(e.sha256).read_bytes() for path, e in sorted(commit.tree.items())}

    def add_files(self, repo_id: str, files: dict[str, bytes], revision: str = "main",
                  repo_type: str = "dataset", title: str = "Add files by hand") -> str:
        """Commit ``files`` to a branch as someone else would (no request is logged); the new commit id.
        LFS or not by suffix, as the preupload answer would have chosen."""
        with self._lock:
            repo = self._repos[(repo_type, repo_id)]
            parent = repo.commits[repo.branches[revision]]
            tree = dict(parent.tree)
            for path, data in files.items():
                tree[path] = self._entry(data, lfs=path.lower().endswith(LFS_SUFFIXES))
                if tree[path].lfs:
                    repo.lfs_oids.add(tree[path].sha256)
            commit = self._commit(repo, parent, tree, title, "")
            repo.branches[revision] = commit.oid
            return commit.oid

    def head(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> str:
        """The commit id a branch points to."""
        with self._lock:
            return self._repos[(repo_type, repo_id)].branches[revision]

    def is_private(self, repo_id: str, repo_type: str = "dataset") -> bool:
        with self._lock:
            return self._repos[(repo_type, repo_id)].private

    # -- storage ------------------------------------------------------------------------------------

    def _blob(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def _store(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self._blob(sha).exists():
            self._blob(sha).write_bytes(data)
        return sha

    def _resolve(self, repo: _Repo, revision: str) -> _Commit | None:
        revision = revision.removeprefix("refs/heads/")
        oid = repo.branches.get(revision, revision)
        return repo.commits.get(oid)

    def _commit(self, repo: _Repo, parent: _Commit | None, tree: dict[str, _Entry], title: str,
                message: str) -> _Commit:
        self._counter += 1
        seed = json.dumps([repo.repo_id, parent and parent.oid, title, self._counter, time.time(),
                           sorted((p, e.git_oid) for p, e in tree.items())])
        commit = _Commit(hashlib.sha1(seed.encode()).hexdigest(), parent and parent.oid, tree, title,
                         message, _now())
        repo.commits[commit.oid] = commit
        return commit

    def _entry(self, data: bytes, lfs: bool) -> _Entry:
        return _Entry(self._store(data), len(data), lfs, "" if lfs else _git_oid(data))

    def _check_fault(self, method: str, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.pattern.search(path) and fault.method in (None, method):
                    if fault.path is None and fault.skip > 0:
                        fault.skip -= 1
                        continue
                    if fault.path in (None, path):
                        fault.path = path
                        fault.times -= 1
                        return fault.status
        return None


class HubError(Exception):
    """An error answer in the Hub's format: JSON ``{"error": ...}`` plus X-Error-Code/-Message."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's socket.getfqdn(): a reverse DNS lookup that may leave the machine.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


# (methods, regex on the raw URL path, handler method); the first match wins. Groups are URL-decoded
# and passed as keyword arguments: t (models/datasets/...), ns/name (the repo id), rev, path, ...
_ROUTES = [(methods, re.compile(rx), name) for methods, rx, name in [
    ({"POST"}, r"^/api/repos/create$", "_create_repo"),
    ({"DELETE"}, r"^/api/repos/delete$", "_delete_repo"),
    ({"GET"}, r"^/api/whoami-v2$", "_whoami"),
    ({"POST"}, r"^/api/validate-yaml$", "_validate_yaml"),
    ({"GET"}, rf"^/api/{_T}/{_REPO}(?:/revision/(?P<rev>[^/]+))?$", "_repo_info"),
    ({"POST"}, rf"^/api/{_T}/{_REPO}/preupload/(?P<rev>[^/]+)$", "_preupload"),
    ({"POST"}, rf"^/api/{_T}/{_REPO}/commit/(?P<rev>[^/]+)$", "_commit"),
    ({"GET"}, rf"^/api/{_T}/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", "_tree"),
    ({"POST"}, rf"^/api/{_T}/{_REPO}/paths-info/(?P<rev>[^/]+)$", "_paths_info"),
    ({"GET"}, rf"^/api/{_T}/{_REPO}/refs$", "_refs"),
    ({"GET"}, rf"^/api/{_T}/{_REPO}/commits/(?P<rev>[^/]+)$", "_commits"),
    ({"POST", "DELETE"}, rf"^/api/{_T}/{_REPO}/branch/(?P<branch>.+)$", "_branch"),
    ({"POST"}, rf"^/{_URL_T}{_REPO}\.git/info/lfs/objects/batch$", "_lfs_batch"),
    ({"PUT"}, rf"^/_lfs/{_T}/{_REPO}/(?P<oid>[0-9a-f]{{64}})$", "_lfs_put"),
    ({"POST"}, rf"^/_lfs/{_T}/{_REPO}/(?P<oid>[0-9a-f]{{64}})/verify$", "_lfs_verify"),
    ({"GET", "HEAD"}, rf"^/{_URL_T}{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "_resolve_file"),
]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    disable_nagle_algorithm = True
    server: _HTTPServer
    record: Request  # this request's log entry
    query: dict[str, str]

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log is Hub.log

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    # -- plumbing -----------------------------------------------------------------------------------

    def _handle(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        auth = self.headers.get("Authorization")
        self.record = Request(self.command, unquote(split.path), split.query, time.monotonic(), auth)
        with hub._lock:
            hub.log.append(self.record)
            if auth:
                hub.tokens_seen.add(auth)
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self._body_read = False
        try:
            status = hub._check_fault(self.command, self.record.path)
            if status is not None:
                raise HubError(status, f"Injected failure ({status}) for {self.command} {self.record.path}")
            for methods, rx, name in _ROUTES:
                match = rx.match(split.path)
                if match and self.command in methods:
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    getattr(self, name)(**args)
                    break
            else:
                raise HubError(404, f"Unknown route: {self.command} {self.record.path}")
        except HubError as err:
            headers = {"X-Error-Message": err.message.encode("ascii", "replace").decode()}
            if err.code:
                headers["X-Error-Code"] = err.code
            if err.commit:
                headers["X-Repo-Commit"] = err.commit
            self._json({"error": err.message}, err.status, headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug here or a malformed request: answer, and show the traceback
            traceback.print_exc()
            self.close_connection = True
            self._json({"error": f"{type(exc).__name__}: {exc}"}, 500)

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body, in pieces (Content-Length or chunked), read at most once."""
        if self._body_read:
            return
        self._body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, 1 << 16))
            if not piece:
                raise ConnectionError("client hung up mid-body")
            left -= len(piece)
            yield piece

    def _body(self) -> bytes:
        return b"".join(self._body_chunks())

    def _json_body(self) -> dict:
        try:
            return json.loads(self._body() or b"{}")
        except ValueError as exc:
            raise HubError(400, f"Invalid JSON body: {exc}") from None

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None,
              length: int | None = None) -> None:
        for _ in self._body_chunks():
            pass  # an unread body would be parsed as the next request on this connection
        self.record.status = status
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: object, status: int = 200, headers: dict | None = None,
              content_type: str = "application/json; charset=utf-8") -> None:
        self._send(status, json.dumps(data).encode(), content_type, headers)

    def _repo(self, t: str, ns: str, name: str, signed: bool = False) -> _Repo:
        """The repo named in the URL. A private one needs some token, except on the LFS upload URLs,
        which stand for the Hub's pre-signed storage URLs (the client sends them no token)."""
        kind = {"models": "model", "datasets": "dataset", "spaces": "space", "kernels": "kernel"}[t or "models"]
        repo = self.server.hub._repos.get((kind, f"{ns}/{name}"))
        if repo is None or (repo.private and not self.record.authorization and not signed):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _rev(self, repo: _Repo, rev: str) -> _Commit:
        commit = self.server.hub._resolve(repo, rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo: _Repo) -> str:
        return f"{self.server.hub.url}/{_PREFIX[repo.kind]}{repo.repo_id}"

    # -- repos --------------------------------------------------------------------------------------

    def _create_repo(self) -> None:
        body = self._json_body()
        hub = self.server.hub
        kind = body.get("type") or "model"
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        with hub._lock:
            if (kind, repo_id) in hub._repos:
                url = self._repo_url(hub._repos[(kind, repo_id)])
                return self._json({"error": f"You already created this {kind} repo", "url": url}, 409)
            repo = hub._repos[(kind, repo_id)] = _Repo(kind, repo_id, private, _now())
            tree = {}
            if hub.gitattributes:
                rules = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
                tree[".gitattributes"] = hub._entry(rules.encode(), lfs=False)
            repo.branches["main"] = hub._commit(repo, None, tree, "initial commit", "").oid
        self._json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        body = self._json_body()
        key = (body.get("type") or "model", f"{body.get('organization') or USER}/{body['name']}")
        with self.server.hub._lock:
            if self.server.hub._repos.pop(key, None) is None:
                raise HubError(404, "Repository not found", "RepoNotFound")
        self._json({})

    def _whoami(self) -> None:
        if not self.record.authorization:
            raise HubError(401, "Invalid credentials in Authorization header")
        self._json({"type": "user", "id": "0" * 24, "name": USER, "fullname": "Test User", "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _validate_yaml(self) -> None:
        content = self._json_body().get("content", "")
        try:
            _card_data(content)
        except yaml.YAMLError as exc:
            return self._json({"errors": [{"message": str(exc)}], "warnings": []}, 400)
        self._json({"errors": [], "warnings": []})

    def _repo_info(self, t: str, ns: str, name: str, rev: str = "main") -> None:
        hub = self.server.hub
        with hub._lock:
            repo = self._repo(t, ns, name)
            commit = self._rev(repo, rev)
            blobs = self.query.get("blobs", "").lower() in ("1", "true")
            siblings = []
            for path, e in sorted(commit.tree.items()):
                sib: dict = {"rfilename": path}
                if blobs:
                    sib.update(size=e.size, blobId=e.git_oid)
                    if e.lfs:
                        sib["lfs"] = {"size": e.size, "sha256": e.sha256, "pointerSize": len(e.pointer)}
                siblings.append(sib)
            info = {"_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                    "author": ns, "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created,
                    "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": siblings,
                    "usedStorage": sum(e.size for e in commit.tree.values())}
            if "README.md" in commit.tree:
                try:
                    info["cardData"] = _card_data(hub._blob(commit.tree["README.md"].sha256).read_text())
                except (yaml.YAMLError, UnicodeDecodeError):
                    pass
        self._json(info)

    def _branch(self, t: str, ns: str, name: str, branch: str) -> None:
        hub = self.server.hub
        body = self._json_body() if self.command == "POST" else {}
        with hub._lock:
            repo = self._repo(t, ns, name)
            if self.command == "DELETE":
                if repo.branches.pop(branch, None) is None:
                    raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                return self._json({})
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self._rev(repo, body.get("startingPoint") or "main").oid
        self._json({})

    def _refs(self, t: str, ns: str, name: str) -> None:
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            refs: dict[str, list] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
            for branch, oid in sorted(repo.branches.items()):
                pr = branch.startswith("refs/pr/")
                refs["pullRequests" if pr else "branches"].append(
                    {"name": branch.rsplit("/", 1)[-1] if pr else branch,
                     "ref": branch if pr else f"refs/heads/{branch}", "targetCommit": oid})
        self._json(refs)

    def _commits(self, t: str, ns: str, name: str, rev: str) -> None:
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            commit: _Commit | None = self._rev(repo, rev)
            items = []
            while commit is not None:
                items.append({"id": commit.oid, "title": commit.title, "message": commit.message,
                              "date": commit.date, "authors": [{"user": USER}]})
                commit = repo.commits.get(commit.parent) if commit.parent else None
        self._json(items)

    # -- uploads ------------------------------------------------------------------------------------

    def _preupload(self, t: str, ns: str, name: str, rev: str) -> None:
        """Which files go through LFS: binary suffixes, binary-looking samples and big files."""
        files = self._json_body().get("files", [])
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            commit = self._rev(repo, "main" if self.query.get("create_pr") else rev)
        out = []
        for f in files:
            sample = base64.b64decode(f.get("sample", ""))
            lfs = (f["path"].lower().endswith(LFS_SUFFIXES) or b"\0" in sample
                   or f.get("size", 0) >= 10 * 1024 * 1024)
            entry = commit.tree.get(f["path"])
            oid = None if entry is None else entry.sha256 if entry.lfs else entry.git_oid
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False, "oid": oid})
        self._json({"files": out, "commitOid": commit.oid})

    def _lfs_batch(self, ns: str, name: str, t: str = "") -> None:
        """git-LFS batch API: upload (and verify) actions for objects this repo does not hold yet."""
        body = self._json_body()
        hub = self.server.hub
        with hub._lock:
            repo = self._repo(t, ns, name)
            if body.get("operation") != "upload":
                raise HubError(400, "Only the upload operation is supported")
            objects = []
            for obj in body.get("objects", []):
                item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in repo.lfs_oids:
                    href = f"{hub.url}/_lfs/{repo.kind}s/{repo.repo_id}/{obj['oid']}"
                    item["actions"] = {"upload": {"href": href, "header": {}, "expires_in": 86400},
                                       "verify": {"href": href + "/verify", "header": {}}}
                objects.append(item)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                   content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, t: str, ns: str, name: str, oid: str) -> None:
        """The object's bytes, streamed to a temp file and checked against the sha256 in the URL."""
        hub = self.server.hub
        with hub._lock:
            repo = self._repo(t, ns, name, signed=True)
        sha = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=hub.root / "blobs", prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in self._body_chunks():
                    sha.update(piece)
                    out.write(piece)
            if sha.hexdigest() != oid:
                raise HubError(400, f"Uploaded content does not match oid {oid}")
            os.replace(tmp, hub._blob(oid))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        with hub._lock:
            repo.lfs_oids.add(oid)
        self._send(200, b"", None, {"ETag": f'"{oid}"'})

    def _lfs_verify(self, t: str, ns: str, name: str, oid: str) -> None:
        body = self._json_body()
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            blob = self.server.hub._blob(oid)
            if oid not in repo.lfs_oids or blob.stat().st_size != body.get("size"):
                raise HubError(404, f"LFS object {oid} not found or wrong size")
        self._json({"success": True})

    def _commit(self, t: str, ns: str, name: str, rev: str) -> None:
        """NDJSON lines: header, then file (base64), lfsFile (by oid), deletedFile, deletedFolder."""
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        hub = self.server.hub
        with hub._lock:
            repo = self._repo(t, ns, name)
            branch = rev.removeprefix("refs/heads/")
            if self.query.get("create_pr"):
                repo.prs += 1
                branch = f"refs/pr/{repo.prs}"
                repo.branches[branch] = self._rev(repo, rev).oid
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {rev} (commits go to a branch)", "RevisionNotFound")
            parent = repo.commits[repo.branches[branch]]
            tree = dict(parent.tree)
            header: dict = {}
            for line in lines:
                key, value = line.get("key"), line.get("value", {})
                path = value.get("path", "").strip("/")
                if key == "header":
                    header = value
                    wanted = value.get("parentCommit")
                    if wanted and wanted != parent.oid:
                        raise HubError(412, f"Parent commit {wanted} is not the head of {branch}")
                elif key == "file":
                    content = value.get("content", "")
                    data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                    tree[path] = hub._entry(data, lfs=False)
                elif key == "lfsFile":
                    oid = value["oid"]
                    if oid not in repo.lfs_oids:
                        raise HubError(422, f"LFS object {oid} for {path} was not uploaded to this repo")
                    tree[path] = _Entry(oid, hub._blob(oid).stat().st_size, True)
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    for p in [p for p in tree if p.startswith(path + "/") or not path]:
                        del tree[p]
                else:
                    raise HubError(400, f"Unknown commit line key: {key!r}")
            title = header.get("summary") or "Commit"
            commit = hub._commit(repo, parent, tree, title, header.get("description", ""))
            repo.branches[branch] = commit.oid
        pr_url = f"{self._repo_url(repo)}/discussions/{repo.prs}" if branch.startswith("refs/pr/") else None
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": f"{self._repo_url(repo)}/commit/"
                    f"{commit.oid}", "hookOutput": "", "pullRequestUrl": pr_url})

    # -- reads --------------------------------------------------------------------------------------

    def _tree_entry(self, repo: _Repo, commit: _Commit, path: str, expand: bool) -> dict:
        entry = commit.tree.get(path)
        if entry is None:  # a folder: its oid hashes what it holds
            inside = sorted((p, e.git_oid) for p, e in commit.tree.items() if p.startswith(path + "/"))
            out: dict = {"type": "directory", "oid": hashlib.sha1(json.dumps(inside).encode()).hexdigest(),
                         "size": 0, "path": path}
        else:
            out = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": path}
            if entry.lfs:
                out["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": len(entry.pointer)}
        if expand:  # the newest commit that changed this path
            last = commit
            while last.parent and _subtree(repo.commits[last.parent].tree, path) == _subtree(last.tree, path):
                last = repo.commits[last.parent]
            out["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return out

    def _tree(self, t: str, ns: str, name: str, rev: str, path: str = "") -> None:
        path = path.strip("/")
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        expand = self.query.get("expand", "").lower() in ("1", "true")
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            commit = self._rev(repo, rev)
            if path in commit.tree or (path and not _subtree(commit.tree, path)):
                raise HubError(404, f"Folder {path!r} not found in {rev}", "EntryNotFound", commit.oid)
            prefix = path + "/" if path else ""
            names: set[str] = set()
            for p in commit.tree:
                if p.startswith(prefix):
                    parts = p[len(prefix):].split("/")
                    depth = len(parts) if recursive else 1
                    names.update(prefix + "/".join(parts[:i]) for i in range(1, depth + 1))
            page = 50 if expand else _PAGE
            cursor = int(self.query.get("cursor", 0))
            chosen = sorted(names)[cursor:cursor + page]
            entries = [self._tree_entry(repo, commit, p, expand) for p in chosen]
        headers = {}
        if cursor + page < len(names):
            query = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}&cursor={cursor + page}"
            headers["Link"] = f'<{self.server.hub.url}{urlsplit(self.path).path}?{query}>; rel="next"'
        self._json(entries, headers=headers)

    def _paths_info(self, t: str, ns: str, name: str, rev: str) -> None:
        """Form-encoded (paths=a&paths=b&expand=False); JSON bodies are accepted too."""
        raw = self._body()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            form = json.loads(raw or b"{}")
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(raw.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[-1].lower() in ("1", "true")
        with self.server.hub._lock:
            repo = self._repo(t, ns, name)
            commit = self._rev(repo, rev)
            out = [self._tree_entry(repo, commit, p.strip("/"), expand) for p in paths
                   if p.strip("/") in commit.tree or _subtree(commit.tree, p.strip("/"))]
        self._json(out)

    def _resolve_file(self, ns: str, name: str, rev: str, path: str, t: str = "") -> None:
        """The file itself, with Range support and the metadata headers hf_hub_download reads."""
        hub = self.server.hub
        with hub._lock:
            repo = self._repo(t, ns, name)
            commit = self._rev(repo, rev)
            entry = commit.tree.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit.oid)
        etag = entry.sha256 if entry.lfs else entry.git_oid
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}"}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": entry.size})
        start, end, status = 0, entry.size, 200
        rng = self.headers.get("Range")
        if rng and entry.size:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m is None or m.groups() == ("", ""):
                raise HubError(416, f"Unsupported Range: {rng}")
            if m.group(1):
                start = int(m.group(1))
                end = min(entry.size, int(m.group(2)) + 1) if m.group(2) else entry.size
            else:
                start = max(0, entry.size - int(m.group(2)))
            if start >= end:
                headers["Content-Range"] = f"bytes */{entry.size}"
                return self._send(416, b"", None, headers)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
        with open(hub._blob(entry.sha256), "rb") as f:
            f.seek(start)
            data = f.read(end - start) if self.command == "GET" else b""
        self._send(status, data, "application/octet-stream", headers, length=end - start)


def _subtree(tree: dict[str, _Entry], path: str) -> list[tuple[str, str]]:
    """The (path, oid) pairs at or under ``path``: empty when nothing is there."""
    return sorted((p, e.git_oid) for p, e in tree.items() if p == path or p.startswith(path + "/"))


def _card_data(readme: str) -> dict:
    """The YAML front matter of a README (``---`` … ``---``), as the Hub's cardData."""
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme, re.DOTALL)
    data = yaml.safe_load(m.group(1)) if m else None
    return data if isinstance(data, dict) else {}


@contextmanager
def serve_hub(root: Path | str | None = None, *, gitattributes: bool = False) -> Iterator[Hub]:
    """Run the Hub look-alike on 127.0.0.1 (a free port) for the duration of the ``with`` block.

    ``root`` holds the uploaded blobs (a temporary folder if None). New repos start with one empty
    commit, as ``files()`` is then compared with a local folder as is; ``gitattributes=True`` puts a
    Hub-like ``.gitattributes`` in that first commit instead.
    """
    with tempfile.TemporaryDirectory(prefix="hub-") as tmp:
        hub = Hub(Path(root) if root is not None else Path(tmp), gitattributes)
        httpd = _HTTPServer(hub)
        hub.url = f"http://127.0.0.1:{httpd.server_port}"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="test-hub-server", daemon=True)
        thread.start()
        try:
            yield hub
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
