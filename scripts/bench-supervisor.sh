#!/usr/bin/env bash
# The supervisor benchmark: llama-orch's daemon beside supervisord (PyPI `supervisor`) on the same stub server,
# in one run (bench/supervisor/bench.py says what is measured and the targets). It builds what it measures the
# way a daemon is shipped: a release build with the Swift runtime linked in (`--static-swift-stdlib`).
#
# Usage: scripts/bench-supervisor.sh [--quick] [--only abcd]
#   --quick  3 repetitions and 20 s of sampling (CI); without it 10 repetitions and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import supervisor' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check supervisor >&2
for product in llama-orch stub-llama-server make-tiny-model; do
    swift build -c release --static-swift-stdlib --product "$product" >&2
done
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/make-tiny-model" --kind dense --out "$work/bench.gguf" >/dev/null
# How much of the hot-code order the release link could use: symbols renamed or gone since
# scripts/profile-layout.sh last ran are skipped, and the idle daemon's RSS creeps up as they add up.
order=Sources/llama-orch/daemon.order
if [ "$(uname)" = Linux ] && [ -f "$order" ] && command -v nm >/dev/null; then
    total=$(grep -vc '^#' "$order" || true)
    found=$( (nm --defined-only "$bin/llama-orch" 2>/dev/null || true) | awk '{print $NF}' | LC_ALL=C sort -u |
        LC_ALL=C comm -12 - <(grep -v '^#' "$order" | LC_ALL=C sort -u) | wc -l)
    echo "layout: $found of $total symbols of $order are in the executable (few: run scripts/profile-layout.sh)"
fi
python3 bench/supervisor/bench.py --llama-orch "$bin/llama-orch" --stub "$bin/stub-llama-server" \
    --model "$work/bench.gguf" "$@"
