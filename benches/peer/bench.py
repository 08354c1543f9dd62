#!/usr/bin/env python3
"""The peer benchmark: imagebump `once` against Renovate 39 and against a floor, on the
same registry, the same GitOps repository and the same git server, in one run.

Run it with `benches/peer/run.sh` (it installs what is missing and builds first).

Parts (all real except the forge API, which is a named stand-in, see forge.py):
- a CNCF Distribution registry (`/usr/bin/docker-registry`), plain HTTP, access log on;
  one empty image pushed with skopeo from an umoci layout, then copied to every
  repository and tagged by writing the storage's tag links (as the testbed's
  `write_tag_links` does): 20 tags per image, 1.0.0..1.0.9, 1.1.0..1.1.8 and 2.0.0;
- a bare GitOps repository `bench/fleetN` per case, served over smart HTTP by nginx +
  fcgiwrap + git-http-backend: one Deployment per image at `apps/appNNN/deployment.yaml`, all at
  1.0.0; every tool must leave one commit that moves all of them to 1.1.8 (majors off);
- the stand-in Gitea API (forge.py) Renovate needs to push a branch and open a PR.

Per case, runs are interleaved (imagebump, Renovate, floor, rotated each round), each
cold: imagebump's stateDir and Renovate's baseDir are removed, the repository is reset
to its first commit (other branches deleted) and the forge forgets its PRs. Wall time is
taken around the process, peak RSS from `/usr/bin/time -v` (the largest process of the
tree), registry requests from the registry's access log between two marker requests.
Every run is checked (one commit, every file at 1.1.8) or the benchmark fails.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forge as forge_mod  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TAGS = [f"1.0.{i}" for i in range(10)] + [f"1.1.{i}" for i in range(9)] + ["2.0.0"]
FROM, TO = "1.0.0", "1.1.8"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"peer bench: {' '.join(map(str, cmd))} failed: {r.stderr.strip()[-2000:]}")
    return r.stdout


def wait_until(what, cond, timeout=15.0):
    """Polls `cond` until it holds; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"peer bench: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.01)


def http_ok(url):
    """Whether something answers `url` below 500 (a 4xx is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Procs:
    """Processes the benchmark started, each in its own process group (fcgiwrap and
    nginx fork workers); at exit each group is ended by its leader's pid."""

    def __init__(self):
        self.children = []

    def start(self, cmd, log):
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append(p)
        return p

    def stop(self):
        for p in reversed(self.children):
            signal_group(p.pid, signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            # Workers that outlive their leader (fcgiwrap's do) go with the group.
            signal_group(p.pid, signal.SIGKILL)
            p.wait()


def signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------- registry


class Registry:
    def __init__(self, procs, d):
        self.dir = d
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        (d / "data").mkdir(parents=True)
        (d / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {d}/data\n"
            f"http:\n  addr: {self.host}\n  secret: bench-only\n"
        )
        self.log_path = d / "registry.log"
        self.log = open(self.log_path, "w")
        procs.start(["/usr/bin/docker-registry", "serve", str(d / "config.yml")], self.log)
        wait_until("the registry answering /v2/", lambda: http_ok(f"http://{self.host}/v2/"))
        self.marks = 0

    def seed(self, repos):
        """One empty image, then every repository gets its layers, manifest and TAGS."""
        layout = self.dir / "layout"
        if not layout.exists():  # pushed once, copied for every case
            run(["umoci", "init", "--layout", str(layout)])
            run(["umoci", "new", "--image", f"{layout}:base"])
            run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:base", f"docker://{self.host}/bench/seed:{FROM}"])
        base = self.dir / "data/docker/registry/v2/repositories/bench"
        link = (base / f"seed/_manifests/tags/{FROM}/current/link").read_text().strip()
        hexd = link.split(":", 1)[1]
        for r in repos:
            dst = base / r
            shutil.copytree(base / "seed", dst, ignore=shutil.ignore_patterns("tags"))
            for t in TAGS:
                for sub in ("current", f"index/sha256/{hexd}"):
                    p = dst / "_manifests/tags" / t / sub
                    p.mkdir(parents=True)
                    (p / "link").write_text(link)

    def mark(self):
        """Sends a marker request and waits until the access log shows it; returns its
        line number, so the lines between two marks are one run's requests."""
        self.marks += 1
        tag = f"bench-mark-{self.marks}"
        http_ok(f"http://{self.host}/v2/?{tag}")
        found = {}

        def seen():
            self.log.flush()
            lines = self.log_path.read_text(errors="replace").splitlines()
            for i, l in enumerate(lines):
                if tag in l and "GET /v2/?" in l:
                    found["i"] = i
                    return True
            return False

        wait_until(f"marker {tag} in the registry's access log", seen)
        return found["i"]

    def requests_between(self, a, b):
        lines = self.log_path.read_text(errors="replace").splitlines()[a + 1 : b]
        kinds = {"tags": 0, "manifests": 0, "blobs": 0, "other": 0}
        total = 0
        for l in lines:
            m = re.search(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/\S*)', l)
            if not m:
                continue
            total += 1
            path = m.group(2)
            if "/tags/list" in path:
                kinds["tags"] += 1
            elif "/manifests/" in path:
                kinds["manifests"] += 1
            elif "/blobs/" in path:
                kinds["blobs"] += 1
            else:
                kinds["other"] += 1
        return total, kinds


# --------------------------------------------------------------------- git server


class GitServer:
    def __init__(self, procs, d):
        self.dir = d
        (d / "repos").mkdir(parents=True)
        (d / "tmp").mkdir()
        sock = d / "fcgi.sock"
        self.fcgi_log = open(d / "fcgiwrap.log", "w")
        procs.start(["fcgiwrap", "-c", "4", "-s", f"unix:{sock}"], self.fcgi_log)
        wait_until("fcgiwrap's socket", sock.exists)
        self.port = free_port()
        conf = d / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=d, port=self.port))
        self.nginx_log = open(d / "nginx.out", "w")
        procs.start(["nginx", "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")], self.nginx_log)
        wait_until("nginx listening", lambda: listening(self.port))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def create(self, name, files):
        bare = self.dir / "repos" / f"{name}.git"
        run(["git", "init", "-q", "--bare", "-b", "main", str(bare)])
        run(["git", "--git-dir", str(bare), "config", "http.receivepack", "true"])
        with tempfile.TemporaryDirectory() as w:
            run(["git", "init", "-q", "-b", "main", w])
            for path, text in files.items():
                p = Path(w) / path
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
            git_id = ["-c", "user.name=seed", "-c", "user.email=seed@example.com"]
            run(["git", "-C", w, "add", "-A"])
            run(["git", "-C", w, *git_id, "commit", "-qm", "fleet"])
            run(["git", "-C", w, "push", "-q", str(bare), "main"])
        return bare


NGINX_CONF = """user root;
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    fastcgi_temp_path {d}/tmp/fastcgi;
    proxy_temp_path {d}/tmp/proxy;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            client_max_body_size 0;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
            fastcgi_param GIT_PROJECT_ROOT {d}/repos;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REMOTE_USER bench;
            fastcgi_pass unix:{d}/fcgi.sock;
        }}
    }}
}}
"""


def deployment(image):
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: app\n"
        f"          image: {image}\n"
    )


# --------------------------------------------------------------------- the tools


def timed(cmd, env=None, cwd=None, log=None):
    """Runs `cmd` under /usr/bin/time -v; returns (seconds, peak RSS MB, exit code)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.monotonic()
        r = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *cmd], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tf.read())
    return wall, (int(m.group(1)) / 1024 if m else float("nan")), r.returncode


class Case:
    def __init__(self, n, tmp, reg, git, forge, args):
        self.n = n
        self.tmp = tmp / f"case-{n}"
        self.tmp.mkdir()
        self.reg, self.git, self.forge, self.args = reg, git, forge, args
        self.apps = [f"app{i:03d}" for i in range(n)]
        self.repo = f"bench/fleet{n}"
        reg.seed([f"c{n}-{a}" for a in self.apps])
        self.images = {a: f"{reg.host}/bench/c{n}-{a}" for a in self.apps}
        files = {f"apps/{a}/deployment.yaml": deployment(f"{img}:{FROM}") for a, img in self.images.items()}
        files["README.md"] = "fleet\n"
        self.bare = git.create(self.repo, files)
        self.init = self.rev("refs/heads/main")
        self.url = f"{git.base_url}/{self.repo}.git"
        forge.repos[self.repo] = str(self.bare)
        self.write_imagebump_config()
        self.write_renovate_config()

    def rev(self, ref):
        return run(["git", "--git-dir", str(self.bare), "rev-parse", ref]).strip()

    def reset(self):
        """Back to the seeded state: main at its first commit, no other branch, no PR."""
        heads = run(["git", "--git-dir", str(self.bare), "for-each-ref", "--format=%(refname)", "refs/heads/"]).split()
        for h in heads:
            if h != "refs/heads/main":
                run(["git", "--git-dir", str(self.bare), "update-ref", "-d", h])
        run(["git", "--git-dir", str(self.bare), "update-ref", "refs/heads/main", self.init])
        self.forge.reset()
        for d in ("imagebump-state", "renovate-base", "floor"):
            shutil.rmtree(self.tmp / d, ignore_errors=True)

    def check(self, tool, ref):
        """One commit on top of the seed, every deployment at TO, nothing else changed."""
        tip = self.rev(ref)
        if tip == self.init:
            raise SystemExit(f"peer bench: {tool} made no commit on {ref} (case {self.n})")
        parent = run(["git", "--git-dir", str(self.bare), "rev-parse", f"{tip}^"]).strip()
        if parent != self.init:
            raise SystemExit(f"peer bench: {tool} left more than one commit on {ref} (case {self.n})")
        changed = run(["git", "--git-dir", str(self.bare), "diff", "--name-only", self.init, tip]).split()
        want = sorted(f"apps/{a}/deployment.yaml" for a in self.apps)
        if sorted(changed) != want:
            raise SystemExit(f"peer bench: {tool} changed {len(changed)} files, want the {len(want)} deployments (case {self.n})")
        at_to = run(["git", "--git-dir", str(self.bare), "grep", "-c", f":{TO}$", tip, "--", "apps"]).splitlines()
        if len(at_to) != self.n:
            raise SystemExit(f"peer bench: {tool} left {self.n - len(at_to)} deployments not at {TO} (case {self.n})")

    # ---- imagebump
    def write_imagebump_config(self):
        d = self.tmp / "imagebump"
        (d / "policies").mkdir(parents=True)
        for a, img in self.images.items():
            (d / "policies" / f"{a}.yaml").write_text(
                f"application: {a}\nimages:\n  - repository: {img}\n    semver: \"^1.0.0\"\n"
                f"    targets:\n      - manifest: apps/{a}/deployment.yaml\n"
            )
        # Defaults, and the same with the registry's rate limit raised (to show how much
        # of the time is the default limit's, 20 requests/s).
        for name, extra in (("imagebump.yaml", ""), ("imagebump-rl1000.yaml", "    rateLimit: 1000\n")):
            (d / name).write_text(
                f"stateDir: {self.tmp}/imagebump-state\npolicies: {d}/policies\n"
                f"git:\n  url: {self.url}\n  branch: main\n  author: {{name: imagebump, email: imagebump@example.com}}\n"
                f"registries:\n  - host: {self.reg.host}\n    insecure: true\n{extra}"
            )
        self.imagebump_configs = {"imagebump": d / "imagebump.yaml", "imagebump_rl1000": d / "imagebump-rl1000.yaml"}

    def imagebump(self, log, tool="imagebump"):
        res = timed([str(self.args.imagebump), "once", "--config", str(self.imagebump_configs[tool])], log=log)
        if res[2] != 0:
            raise SystemExit(f"peer bench: imagebump once exited {res[2]} (case {self.n}); see {log.name}")
        self.check(tool, "refs/heads/main")
        return res

    def imagebump_rl1000(self, log):
        return self.imagebump(log, "imagebump_rl1000")

    # ---- Renovate
    def write_renovate_config(self):
        d = self.tmp / "renovate"
        d.mkdir()
        cfg = {
            "platform": "gitea",
            "endpoint": f"http://127.0.0.1:{self.forge.port}/api/v1/",
            "token": self.forge.token,
            "repositories": [self.repo],
            "baseDir": str(self.tmp / "renovate-base"),
            "gitAuthor": "Renovate Bot <renovate@example.com>",
            "onboarding": False,
            "requireConfig": "optional",
            "dependencyDashboard": False,
            "enabledManagers": ["kubernetes"],
            "kubernetes": {"fileMatch": ["^apps/.+\\.yaml$"]},
            "prHourlyLimit": 0,
            "prConcurrentLimit": 0,
            "branchConcurrentLimit": 0,
            "packageRules": [
                # The registry is plain HTTP: without this the docker datasource uses https.
                {"matchDatasources": ["docker"], "registryUrls": [f"http://{self.reg.host}"]},
                # One branch, one commit, like imagebump's one commit.
                {"matchPackageNames": ["*"], "groupName": "all images", "separateMinorPatch": False},
                # imagebump's policies are ^1.0.0: majors off.
                {"matchUpdateTypes": ["major"], "enabled": False},
            ],
        }
        (d / "config.json").write_text(json.dumps(cfg, indent=2))
        self.renovate_config = d / "config.json"

    def renovate(self, log):
        env = dict(os.environ, RENOVATE_CONFIG_FILE=str(self.renovate_config), LOG_LEVEL=self.args.renovate_log_level)
        res = timed(["node", str(self.args.renovate)], env=env, log=log)
        log.write("\nstand-in forge, requests received:\n")
        log.writelines(f"  {m} {p}\n" for m, p in self.forge.requests)
        log.flush()
        if self.forge.unknown:
            print(f"  stand-in forge: unknown requests {sorted(set(self.forge.unknown))}", file=sys.stderr)
        if res[2] != 0:
            raise SystemExit(f"peer bench: Renovate exited {res[2]} (case {self.n}); see {log.name}")
        heads = [h for h in run(["git", "--git-dir", str(self.bare), "for-each-ref", "--format=%(refname)", "refs/heads/"]).split() if h != "refs/heads/main"]
        if len(heads) != 1:
            raise SystemExit(f"peer bench: Renovate left branches {heads}, want one (case {self.n}); see {log.name}")
        self.check("Renovate", heads[0])
        if len(self.forge.pulls) != 1:
            raise SystemExit(f"peer bench: Renovate opened {len(self.forge.pulls)} pull requests, want 1 (case {self.n})")
        return res

    # ---- floor
    def floor(self, log):
        """The same tag lists with one curl over one connection, then clone + edit +
        commit + push with the git CLI: the work a shell script that knew the answer does."""
        d = self.tmp / "floor"
        d.mkdir()
        cfg = d / "curl.cfg"
        cfg.write_text("".join(f'url = "http://{self.reg.host}/v2/bench/c{self.n}-{a}/tags/list"\noutput = "/dev/null"\n' for a in self.apps))
        script = (
            "set -e\n"
            f"curl -sSf --config {cfg}\n"
            f"git clone -q {self.url} {d}/w\n"
            f"cd {d}/w\n"
            f"sed -i 's/:{re.escape(FROM)}$/:{TO}/' apps/*/deployment.yaml\n"
            "git -c user.name=floor -c user.email=floor@example.com commit -qam 'update images'\n"
            "git push -q origin main\n"
        )
        res = timed(["bash", "-c", script], log=log)
        if res[2] != 0:
            raise SystemExit(f"peer bench: the floor script failed (case {self.n}); see {log.name}")
        self.check("floor", "refs/heads/main")
        return res


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="50,200", help="images per case, comma-separated (20 tags each)")
    ap.add_argument("--runs", type=int, default=3, help="cold runs per tool and case (medians)")
    ap.add_argument("--imagebump", type=Path, default=ROOT / "target/release/imagebump")
    ap.add_argument("--renovate", type=Path, default=HERE / ".cache/renovate/node_modules/renovate/dist/renovate.js")
    ap.add_argument("--renovate-log-level", default="info")
    ap.add_argument("--tools", default="imagebump,renovate,floor", help="any of imagebump, imagebump_rl1000, renovate, floor")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = ap.parse_args()
    tools = args.tools.split(",")
    if unknown := [t for t in tools if t not in NAMES]:
        raise SystemExit(f"peer bench: unknown tools {unknown}; known: {', '.join(NAMES)}")
    for t, p in (("imagebump", args.imagebump), ("renovate", args.renovate)):
        if any(x.startswith(t) for x in tools) and not p.exists():
            raise SystemExit(f"peer bench: {p} is missing; run benches/peer/run.sh, which builds/installs it")
    if not Path("/usr/bin/time").exists():
        raise SystemExit("peer bench: /usr/bin/time is missing: apt-get install time")

    procs = Procs()
    tmp = Path(tempfile.mkdtemp(prefix="imagebump-peer-"))
    try:
        reg = Registry(procs, tmp / "registry")
        git = GitServer(procs, tmp / "git")
        forge = forge_mod.Forge(git.base_url, {}, token="bench-token")
        forge.port = free_port()
        forge_mod.serve(forge, forge.port)
        versions = {
            "imagebump": run([str(args.imagebump), "--version"]).strip() if args.imagebump.exists() else "-",
            "renovate": run(["node", str(args.renovate), "--version"]).strip().splitlines()[-1] if "renovate" in tools else "-",
            "node": run(["node", "--version"]).strip(),
            "git": run(["git", "--version"]).strip(),
            "curl": run(["curl", "--version"]).splitlines()[0],
        }
        print("peer bench:", ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start", flush=True)
        results = {}
        for n in [int(x) for x in args.cases.split(",")]:
            case = Case(n, tmp, reg, git, forge, args)
            res = {t: [] for t in tools}
            for i in range(args.runs):
                order = tools[i % len(tools) :] + tools[: i % len(tools)]
                for t in order:
                    case.reset()
                    log = open(case.tmp / f"{t}-{i}.log", "w")
                    a = reg.mark()
                    wall, rss, _ = getattr(case, t)(log)
                    b = reg.mark()
                    reqs, kinds = reg.requests_between(a, b)
                    log.close()
                    res[t].append((wall, rss, reqs, kinds))
                    print(f"  {n} images, run {i + 1}, {t}: {wall:.2f} s, {rss:.0f} MB peak RSS, {reqs} registry requests {kinds}", flush=True)
            results[n] = res
        print_table(results, tools, versions)
        print(f"machine load {os.getloadavg()[0]:.2f} at end", flush=True)
    finally:
        procs.stop()
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


NAMES = {
    "renovate": "Renovate {renovate}",
    "imagebump": "imagebump `once` (defaults)",
    "imagebump_rl1000": "imagebump `once`, `rateLimit: 1000`",
    "floor": "floor (curl + git CLI)",
}
# (numerator, denominator) of each ratio column, shown when both tools ran.
RATIOS = [("renovate", "imagebump"), ("renovate", "imagebump_rl1000"), ("imagebump", "floor")]


def print_table(results, tools, versions):
    cols = [t for t in NAMES if t in tools]
    ratios = [(a, b) for a, b in RATIOS if a in cols and b in cols]
    short = {"renovate": "Renovate", "imagebump": "imagebump", "imagebump_rl1000": "imagebump (1000/s)", "floor": "floor"}
    hdr = ["case", *[NAMES[t].format(**versions) for t in cols], *[f"{short[a]} / {short[b]}" for a, b in ratios]]
    rows = []
    for n, res in results.items():
        med = {t: [median([r[k] for r in res[t]]) for k in range(3)] for t in cols}
        lo = {t: min(r[1] for r in res[t]) for t in cols}
        hi = {t: max(r[1] for r in res[t]) for t in cols}
        runs = len(res[cols[0]])

        def ratio(k):
            return [f"{med[a][k] / med[b][k]:.1f}×" for a, b in ratios]

        rows.append([f"{n} images × {len(TAGS)} tags → 1 commit, wall (median of {runs})", *[f"{med[t][0]:.2f} s" for t in cols], *ratio(0)])
        rows.append([f"{n} images, peak RSS (median; min–max)", *[f"{med[t][1]:.0f} MB ({lo[t]:.0f}–{hi[t]:.0f})" for t in cols], *ratio(1)])
        rows.append([f"{n} images, registry requests (per image)", *[f"{med[t][2]:.0f} ({med[t][2] / n:.2f})" for t in cols], *ratio(2)])
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


if __name__ == "__main__":
    main()
