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
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
