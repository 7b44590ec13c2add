#!/usr/bin/env bash
# Refreshes Sources/llama-orch/daemon.order: the symbol order that release links use to lay the idle daemon's
# hot code out together (scripts/layout/profile.py says how it is found). Run it after changing what the daemon
# does while it supervises; bench (c) shows the effect. Linux only; about 2 minutes a round.
#
# Usage: scripts/profile-layout.sh [--rounds N]
#   --rounds N  profile, relink with the new order and profile again, N times (default 2: the second round
#               sees the hot code already together and drops what only shared a page with it).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=${2:-}; shift $(($# > 1 ? 2 : 1)) ;;
        *) echo "usage: scripts/profile-layout.sh [--rounds N]" >&2; exit 64 ;;
    esac
done
case "$rounds" in
    '' | *[!0-9]* | 0) echo "profile-layout.sh: --rounds takes a whole number of at least 1" >&2; exit 64 ;;
esac
[ "$(uname)" = Linux ] || { echo "profile-layout.sh: Linux only (/proc/<pid>/pagemap, lld)" >&2; exit 69; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-cc}" -O2 -shared -fPIC -o "$work/split-pages.so" scripts/layout/split-pages.c
for product in stub-llama-server make-tiny-model; do
    swift build -c release --static-swift-stdlib --product "$product" >&2
done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
"$bin/make-tiny-model" --kind dense --out "$work/model.gguf" >/dev/null
for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    rm -f "$bin/llama-orch"  # the order file is not an input SwiftPM tracks: make it link again
    swift build -c release --static-swift-stdlib --product llama-orch \
        -Xlinker -Map="$work/llama-orch.map" -Xlinker --no-demangle >&2
    python3 scripts/layout/profile.py --llama-orch "$bin/llama-orch" --map "$work/llama-orch.map" \
        --aid "$work/split-pages.so" --stub "$bin/stub-llama-server" --model "$work/model.gguf" \
        --out Sources/llama-orch/daemon.order
done
# Leave the build linked with the final order and without the map.
rm -f "$bin/llama-orch"
swift build -c release --static-swift-stdlib --product llama-orch >&2
