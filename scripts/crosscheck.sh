#!/usr/bin/env bash
# Compares imagebump's Masterminds-compatible constraint engine with the real Go library
# (Debian's golang-github-masterminds-semver-dev, v3.2.0) on generated cases. Not part of
# the test suite: a development check. Prints the differing lines and a count.
#
# Known, deliberate differences with v3.2.0 (imagebump follows v3.4 / the issue's spec):
#  - prerelease versions: 3.2.0 applies the "no prerelease unless the constraint names
#    one" rule per comparator (and not at all for !=); imagebump applies it per AND group.
#  - strict tags: Flux trims a leading v before StrictNewVersion, so v1.2.3 is a version;
#    3.2.0's StrictNewVersion also accepts "1.2.3-" and "1.2.3+", which are not semver.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s golang-go golang-github-masterminds-semver-dev >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go golang-github-masterminds-semver-dev >/dev/null
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/c" "$work/v"
cp scripts/crosscheck/check.go.txt "$work/c/main.go"
cp scripts/crosscheck/versions.go.txt "$work/v/main.go"
(cd "$work/c" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../check main.go)
(cd "$work/v" && GO111MODULE=off GOPATH=/usr/share/gocode go build -o ../versions main.go)
cargo build --quiet -p imagebump-core --example masterminds_crosscheck
ours=target/debug/examples/masterminds_crosscheck
(cd "$work" && python3 "$OLDPWD/scripts/crosscheck/gen_cases.py" >/dev/null)
"$work/check" < "$work/cases.tsv" > "$work/go.tsv"
"$ours" < "$work/cases.tsv" > "$work/rust.tsv"
echo "== constraints: cases where Masterminds v3.2.0 and imagebump differ (constraint, version, go, imagebump)"
paste "$work/go.tsv" "$work/rust.tsv" | awk -F'\t' '$3 != $6 { n++; if (n <= 40) print $1 "\t" $2 "\t" $3 "\t" $6 } END { printf "%d of %d cases differ\n", n, NR }'
"$work/versions" < scripts/crosscheck/tags.txt > "$work/tags-go.tsv"
"$ours" --tags < scripts/crosscheck/tags.txt > "$work/tags-rust.tsv"
echo "== tags: loose (NewVersion) and strict parses that differ (tag, go loose, ours loose, go strict, ours strict)"
paste "$work/tags-go.tsv" "$work/tags-rust.tsv" | awk -F'\t' '$2 != $5 || $3 != $6 { print $1 "\t" $2 "\t" $5 "\t" $3 "\t" $6 }'
