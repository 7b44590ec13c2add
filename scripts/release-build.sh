#!/usr/bin/env bash
# Builds PRODUCT... in release the way llama-orch is installed (README, Set-up: the Swift runtime linked in) and
# prints the folder of the binaries. `--plain`: a plain `swift build -c release` instead. The benchmarks use it,
# so that they measure the same build and don't rebuild each other's.
#
# Usage: scripts/release-build.sh [--plain] PRODUCT...
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(--static-swift-stdlib)
if [ "${1:-}" = --plain ]; then
    flags=()
    shift
fi
for product in "$@"; do
    swift build -c release "${flags[@]}" --product "$product" >&2
done
swift build -c release "${flags[@]}" --show-bin-path
