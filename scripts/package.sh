#!/usr/bin/env bash
# Makes the archive to copy llama-orch to another Linux machine: llama-orch-VERSION-linux-ARCH.tar.gz with the
# stripped release binary (the Swift runtime linked in: it runs without the toolchain), the completions and the
# manual page in the layout scripts/install.sh gives a prefix (bin/, share/), README.md and LICENSE; and beside it
# its SHA-256 (VERSION-...tar.gz.sha256, for `sha256sum -c`). Prints the archive's path.
#
#   scripts/package.sh [--binary PATH] [--out DIR]
#
#   --binary PATH  package this llama-orch binary (also LLAMA_ORCH_BINARY) instead of building the release one
#   --out DIR      where to write the archive (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "package: $*" >&2
  exit 1
}
binary=${LLAMA_ORCH_BINARY:-}
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || fail "--binary takes a path"; binary=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || fail "--out takes a folder"; out=$2; shift 2 ;;
    -h | --help) sed -n '7,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) fail "unknown argument '$1'" ;;
  esac
done
if [ -z "$binary" ]; then
  binary="$(scripts/release-build.sh llama-orch | tail -n 1)/llama-orch"
fi
[ -x "$binary" ] || fail "no llama-orch binary at $binary"

version=$("$binary" --version | awk 'NR == 1 { print $1 }')
arch=$(uname -m)
name="llama-orch-$version-linux-$arch"
mkdir -p "$out"
out=$(cd "$out" && pwd)

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
scripts/install.sh --quiet --prefix "$staging/$name" --binary "$binary" \
  || fail "staging failed: scripts/install.sh --prefix $staging/$name --binary $binary"
rm -r "$staging/$name/share/llama-orch" # install.sh's record of what it wrote; a copied archive has no use for it
cp README.md LICENSE "$staging/$name/"
tar -C "$staging" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "package: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)), SHA-256 in $name.tar.gz.sha256" >&2
echo "$out/$name.tar.gz"
