"""A STAND-IN for a Gitea server's REST API, for the peer benchmark only.

Renovate cannot commit with its `local` platform, so it needs a forge: this is the
smallest one it accepts. It answers the Gitea v1 endpoints Renovate 39 calls (found
by running Renovate against it and reading its requests; shapes, status codes,
pagination headers and error bodies follow Gitea's published swagger,
https://gitea.com/api/swagger) for one user and a fixed set of repositories. Git itself
is not served here: `clone_url` points at the real smart-HTTP server (nginx + fcgiwrap +
git-http-backend) the benchmark starts, so pushes land in the real bare repository.
Branch and commit answers are read from that bare repository with the git CLI.

What Renovate 39.264 called in a cold run (one repository, no dashboard, one grouped
branch): `GET /user`, `GET /version`, `GET /repos/{owner}/{repo}`,
`GET /repos/{owner}/{repo}/issues` (it looks for its dependency dashboard issue even when
that is off), `GET /repos/{owner}/{repo}/pulls` and, after pushing its branch,
`POST /repos/{owner}/{repo}/pulls`. Branches, commit statuses, labels and PR updates
are answered too, for runs that find an existing branch or PR.

Anything it does not know is a 404 with Gitea's error body, and is recorded in
`unknown` so the benchmark can say which endpoint is missing. Standard library only.
"""

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

USER = {
    "id": 1,
    "login": "renovate",
    "username": "renovate",
    "full_name": "Renovate Bot",
    "email": "renovate@example.com",
    "avatar_url": "",
    "is_admin": False,
    "language": "",
    "created": "2026-01-01T00:00:00Z",
}


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Forge:
    """The state behind the API: repositories (name -> bare path) and pull requests."""

    def __init__(self, git_base_url, repos, token):
        self.git_base_url = git_base_url  # e.g. http://127.0.0.1:PORT
        self.token = token  # the one API token it accepts
        self.repos = dict(repos)  # "owner/name" -> bare repository path
        self.lock = threading.Lock()
        self.pulls = []
        self.requests = []  # (method, path) of every request, for the report
        self.unknown = []

    def reset(self):
        """Forgets pull requests and the request log (between benchmark runs)."""
        with self.lock:
            self.pulls = []
            self.requests = []
            self.unknown = []

    def git(self, repo, *args):
        out = subprocess.run(
            ["git", "--git-dir", self.repos[repo], *args],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() if out.returncode == 0 else None

    def repo_json(self, full):
        owner, name = full.split("/", 1)
        return {
            "id": 1,
            "owner": dict(USER, login=owner, username=owner),
            "name": name,
            "full_name": full,
            "description": "",
            "empty": False,
            "private": False,
            "fork": False,
            "template": False,
            "parent": None,
            "mirror": False,
            "size": 1,
            "html_url": f"{self.git_base_url}/{full}",
            "ssh_url": "",
            "clone_url": f"{self.git_base_url}/{full}.git",
            "original_url": "",
            "website": "",
            "default_branch": "main",
            "archived": False,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": now(),
            "permissions": {"admin": True, "push": True, "pull": True},
            "has_issues": True,
            "has_wiki": False,
            "has_pull_requests": True,
            "has_projects": False,
            "has_releases": False,
            "has_packages": False,
            "has_actions": False,
            "ignore_whitespace_conflicts": False,
            "allow_merge_commits": True,
            "allow_rebase": True,
            "allow_rebase_explicit": True,
            "allow_squash_merge": True,
            "allow_fast_forward_only_merge": True,
            "allow_rebase_update": True,
            "default_delete_branch_after_merge": False,
            "default_merge_style": "merge",
            "default_allow_maintainer_edit": False,
            "internal": False,
            "object_format_name": "sha1",
        }

    def commit_json(self, repo, sha):
        info = self.git(repo, "show", "-s", "--format=%an%x00%ae%x00%aI%x00%B", sha) or ""
        an, ae, ad, msg = (info.split("\x00", 3) + ["", "", "", ""])[:4]
        person = {"name": an, "email": ae, "username": ""}
        return {
            "id": sha,
            "message": msg,
            "url": f"{self.git_base_url}/{repo}/commit/{sha}",
            "author": person,
            "committer": person,
            "verification": None,
            "timestamp": ad,
            "added": None,
            "removed": None,
            "modified": None,
        }

    def branch_json(self, repo, name):
        sha = self.git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{name}")
        if not sha:
            return None
        return {
            "name": name,
            "commit": self.commit_json(repo, sha),
            "protected": False,
            "required_approvals": 0,
            "enable_status_check": False,
            "status_check_contexts": [],
            "user_can_push": True,
            "user_can_merge": True,
            "effective_branch_protection_name": "",
        }

    def pr_json(self, repo, pr):
        head_sha = self.git(repo, "rev-parse", "-q", "--verify", f"refs/heads/{pr['head']}") or ""
        base_sha = self.git(repo, "rev-parse", "-q", "--verify", f"refs/heads/{pr['base']}") or ""
        r = self.repo_json(repo)
        url = f"{self.git_base_url}/{repo}/pulls/{pr['number']}"
        return {
            "id": pr["number"],
            "number": pr["number"],
            "url": url,
            "html_url": url,
            "diff_url": url + ".diff",
            "patch_url": url + ".patch",
            "user": USER,
            "title": pr["title"],
            "body": pr["body"],
            "labels": [],
            "milestone": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "state": pr["state"],
            "draft": False,
            "is_locked": False,
            "comments": 0,
            "mergeable": True,
            "merged": False,
            "merged_at": None,
            "merge_commit_sha": None,
            "merged_by": None,
            "allow_maintainer_edit": False,
            "base": {"label": pr["base"], "ref": pr["base"], "sha": base_sha, "repo_id": 1, "repo": r},
            "head": {"label": pr["head"], "ref": pr["head"], "sha": head_sha, "repo_id": 1, "repo": r},
            "merge_base": base_sha,
            "due_date": None,
            "created_at": pr["created_at"],
            "updated_at": pr["updated_at"],
            "closed_at": None,
            "pin_order": 0,
        }


class Handler(BaseHTTPRequestHandler):
    server_version = "Gitea-standin/1.22"
    protocol_version = "HTTP/1.1"
    forge = None  # set by serve()

    def log_message(self, *args):  # quiet: the request list is kept in Forge.requests
        pass

    def send_json(self, status, value, total=None, link=None):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if total is not None:
            # Gitea's pagination: the item count, and a Link header when there are more.
            self.send_header("X-Total-Count", str(total))
            self.send_header("Access-Control-Expose-Headers", "X-Total-Count, Link")
        if link:
            self.send_header("Link", link)
        self.end_headers()
        self.wfile.write(body)

    def send_page(self, items, query):
        """Gitea's pagination: `page` (from 1) and `limit` (default 30, at most 50), the
        item count in X-Total-Count, and a Link header with `next`/`last` when more."""
        try:
            page = max(1, int((query.get("page") or ["1"])[0]))
            limit = min(50, max(1, int((query.get("limit") or ["30"])[0])))
        except ValueError:
            return self.error(422, "page and limit must be numbers")
        chunk = items[(page - 1) * limit : page * limit]
        last = max(1, -(-len(items) // limit))
        links = []
        if page < last:
            base = urlsplit(self.path).path
            links = [f'<{base}?page={page + 1}&limit={limit}>; rel="next"', f'<{base}?page={last}&limit={limit}>; rel="last"']
        return self.send_json(200, chunk, total=len(items), link=", ".join(links) or None)

    def error(self, status, message):
        # Gitea's APIError shape.
        self.send_json(status, {"message": message, "url": f"{self.forge.git_base_url}/api/swagger"})

    def body(self):
        """The JSON body, or None when it is missing its length, too big or not JSON."""
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if not 0 <= n <= 1 << 20:
                return None
            return json.loads(self.rfile.read(n) or b"{}") if n else {}
        except ValueError:
            return None

    def handle_any(self, method):
        f = self.forge
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        with f.lock:
            f.requests.append((method, path))
        if not path.startswith("/api/v1/"):
            return self.error(404, "Not Found")
        p = path[len("/api/v1/") :].strip("/").split("/")
        if method == "GET" and p == ["version"]:
            return self.send_json(200, {"version": "1.22.0"})
        # Gitea takes a token as `token T` or `Bearer T`; without one, 401.
        auth = self.headers.get("Authorization", "")
        if auth not in (f"token {f.token}", f"Bearer {f.token}"):
            return self.error(401, "token is required")
        if method == "GET" and p == ["user"]:
            return self.send_json(200, USER)
        if len(p) >= 2 and p[0] == "orgs" and p[-1] == "labels":
            return self.send_page([], query)
        if p[0] != "repos" or len(p) < 3:
            return self.unknown(method, path)
        repo = f"{p[1]}/{p[2]}"
        if repo not in f.repos:
            return self.error(404, "The target couldn't be found.")
        rest = p[3:]
        if method == "GET" and rest == []:
            return self.send_json(200, f.repo_json(repo))
        if rest[:1] == ["labels"] and method == "GET":
            return self.send_page([], query)
        if rest[:1] == ["branches"] and method == "GET" and len(rest) >= 2:
            b = f.branch_json(repo, "/".join(rest[1:]))
            return self.send_json(200, b) if b else self.error(404, "branch not found")
        if rest[:1] == ["commits"] and len(rest) >= 3 and rest[-1] in ("status", "statuses"):
            ref = "/".join(rest[1:-1])
            sha = f.git(repo, "rev-parse", "-q", "--verify", ref) or ref
            if rest[-1] == "statuses":
                return self.send_page([], query)
            return self.send_json(
                200,
                {
                    "state": "",
                    "sha": sha,
                    "total_count": 0,
                    "statuses": [],
                    "repository": f.repo_json(repo),
                    "commit_url": "",
                    "url": "",
                },
            )
        if rest[:1] == ["statuses"] and method == "POST":
            return self.send_json(201, dict(self.body() or {}, id=1, created_at=now()))
        if rest[:1] == ["issues"] and method == "GET" and len(rest) == 1:
            return self.send_page([], query)
        if rest[:1] == ["pulls"]:
            return self.pulls(method, repo, rest[1:], query)
        return self.unknown(method, path)

    def pulls(self, method, repo, rest, query):
        f = self.forge
        if method == "GET" and rest == []:
            state = (query.get("state") or ["open"])[0]
            with f.lock:
                prs = [pr for pr in f.pulls if state == "all" or pr["state"] == state]
            return self.send_page([f.pr_json(repo, pr) for pr in prs], query)
        if method == "POST" and rest == []:
            b = self.body()
            if not isinstance(b, dict) or not b.get("head") or not b.get("base") or not b.get("title"):
                return self.error(422, "head, base and title are required")
            if f.branch_json(repo, b["head"]) is None:
                return self.error(404, f"head branch {b['head']} does not exist")
            with f.lock:
                pr = {
                    "number": len(f.pulls) + 1,
                    "head": b["head"],
                    "base": b["base"],
                    "title": b["title"],
                    "body": b.get("body", ""),
                    "state": "open",
                    "created_at": now(),
                    "updated_at": now(),
                }
                f.pulls.append(pr)
            return self.send_json(201, f.pr_json(repo, pr))
        if len(rest) >= 1 and rest[0].isdigit():
            with f.lock:
                pr = next((x for x in f.pulls if x["number"] == int(rest[0])), None)
            if pr is None:
                return self.error(404, "pull request not found")
            if method == "PATCH" and len(rest) == 1:
                b = self.body() or {}
                with f.lock:
                    for k in ("title", "body", "state"):
                        if k in b:
                            pr[k] = b[k]
                    pr["updated_at"] = now()
            if method in ("GET", "PATCH") and len(rest) == 1:
                return self.send_json(200, f.pr_json(repo, pr))
            if method == "GET" and rest[1:] == ["reviews"]:
                return self.send_page([], query)
        return self.unknown(method, "/".join(["pulls", *rest]))

    def unknown(self, method, path):
        with self.forge.lock:
            self.forge.unknown.append(f"{method} {path}")
        return self.error(404, "Not Found")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def serve(forge, port):
    """Starts the stand-in on 127.0.0.1:port in a daemon thread; returns the server."""

    class H(Handler):
        pass

    H.forge = forge
    httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
