"""A tiny in-memory stand-in for the Hugging Face Hub HTTP API, served on localhost.

It speaks just enough of the real protocol for the *real* huggingface_hub client:
create repo/branch/tag, validate-yaml, preupload (every file "regular"), NDJSON
commits (all files of a commit applied at once), repo info, tree listing and file
downloads (resolve). ``fail`` injects HTTP errors: [(method, path regex, status, times)].
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self):
        self.repos: dict[
            str, dict
        ] = {}  # repo_id -> {"refs": {name: oid}, "commits": {oid: {path: bytes}}}
        self.fail: list[list] = []
        self.requests: list[tuple[str, str]] = []
        self.commit_payloads: list[list[dict]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        """A model repo whose main branch holds ``files`` (path -> bytes) in one commit."""
        oid = hashlib.sha1((repo_id + "".join(sorted(files))).encode()).hexdigest()
        with self.lock:
            self.repos[repo_id] = {"refs": {"main": oid}, "commits": {oid: dict(files)}}
        return oid

    def files(self, repo_id: str, ref: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo["commits"][repo["refs"].get(ref, ref)]

    # -- request handling -------------------------------------------------------------
    def _injected(self, method: str, path: str) -> int | None:
        for rule in self.fail:
            if rule[0] == method and re.search(rule[1], path) and rule[3] > 0:
                rule[3] -= 1
                return rule[2]
        return None

    def handle(self, method: str, path: str, body: bytes):
        """Returns (status, json-able or bytes, extra headers)."""
        with self.lock:
            self.requests.append((method, path))
            if (status := self._injected(method, path)) is not None:
                return status, {"error": f"injected {status}"}, {}
            path = path.split("?")[0]
            if method == "POST" and path == "/api/repos/create":
                req = json.loads(body)
                repo_id = f"{req['organization']}/{req['name']}"
                if repo_id in self.repos:
                    return 409, {"error": "You already created this model repo"}, {}
                empty = hashlib.sha1(repo_id.encode()).hexdigest()
                self.repos[repo_id] = {"refs": {"main": empty}, "commits": {empty: {}}}
                return 200, {"url": f"{self.endpoint}/{repo_id}"}, {}
            if method == "POST" and path == "/api/validate-yaml":
                return 200, {}, {}
            m = re.fullmatch(
                r"/api/models/([^/]+/[^/]+)/(preupload|commit|branch|tag|revision|tree)/([^/]+)(/.*)?",
                path,
            )
            if m:
                repo_id, action, rev = m.group(1), m.group(2), m.group(3)
                if repo_id not in self.repos:
                    return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
                return getattr(self, f"_{action}")(self.repos[repo_id], repo_id, rev, body, method)
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m and m.group(1) in self.repos:
                return self._resolve(self.repos[m.group(1)], *m.groups(), method)
            return 404, {"error": f"no route {method} {path}"}, {}

    def _preupload(self, repo, repo_id, rev, body, method):
        files = json.loads(body)["files"]
        return (
            200,
            {
                "files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
            },
            {},
        )

    def _commit(self, repo, repo_id, rev, body, method):
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        self.commit_payloads.append(lines)
        parent = repo["refs"].get(rev)
        if parent is None:
            return 404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"}
        tree = dict(repo["commits"][parent])
        for line in lines:
            if line["key"] == "file":
                tree[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        oid = hashlib.sha1(
            json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in tree.items())).encode()
            + parent.encode()
        ).hexdigest()
        repo["commits"][oid] = tree
        repo["refs"][rev] = oid
        return 200, {"commitUrl": f"{self.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid}, {}

    def _branch(self, repo, repo_id, rev, body, method):
        if rev in repo["refs"]:
            return 409, {"error": "Reference already exists"}, {}
        repo["refs"][rev] = repo["refs"]["main"]
        return 200, {}, {}

    def _tag(self, repo, repo_id, rev, body, method):
        repo["refs"][json.loads(body)["tag"]] = repo["refs"].get(rev, rev)
        return 200, {}, {}

    def _oid(self, repo, rev):
        return repo["refs"].get(rev, rev if rev in repo["commits"] else None)

    def _revision(self, repo, repo_id, rev, body, method):
        oid = self._oid(repo, rev)
        if oid is None:
            return 404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"}
        siblings = [{"rfilename": p} for p in repo["commits"][oid]]
        return (
            200,
            {"id": repo_id, "modelId": repo_id, "sha": oid, "siblings": siblings, "private": False},
            {},
        )

    def _tree(self, repo, repo_id, rev, body, method):
        oid = self._oid(repo, rev)
        files = repo["commits"][oid]
        return (
            200,
            [
                {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for p, b in sorted(files.items())
            ],
            {},
        )

    def _resolve(self, repo, repo_id, rev, path, method):
        oid = self._oid(repo, rev)
        data = repo["commits"].get(oid, {}).get(path)
        if data is None:
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        etag = '"' + hashlib.sha1(data).hexdigest() + '"'
        return 200, data, {"X-Repo-Commit": oid, "ETag": etag}

    def _handler_class(hub):  # noqa: N805  (closure over the FakeHub instance)
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = hub.handle(method, self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type",
                    "application/octet-stream"
                    if isinstance(payload, bytes)
                    else "application/json",
                )
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_HEAD(self):
                self._serve("HEAD")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler
