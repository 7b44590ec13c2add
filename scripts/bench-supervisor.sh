#!/usr/bin/env bash
# The supervisor benchmark: llama-orch's daemon beside supervisord (PyPI `supervisor`) on the same stub server,
# in one run (bench/supervisor/bench.py says what is measured and the targets). It measures a release build the
# way llama-orch is installed (README, Set-up): `swift build -c release --static-swift-stdlib`, the Swift
# runtime linked in, so that every command starts in a few milliseconds. `--plain` measures a plain
# `swift build -c release` instead (the runtime and Foundation loaded as shared libraries at each start).
#
# Usage: scripts/bench-supervisor.sh [--plain] [--quick] [--only abcd]
#   --quick  3 repetitions and 20 s of sampling (CI); without it 10 repetitions and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
plain=()
if [ "${1:-}" = --plain ]; then
    plain=(--plain)
    shift
fi
python3 -c 'import supervisor' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check supervisor >&2
bin=$(scripts/release-build.sh "${plain[@]}" llama-orch stub-llama-server make-tiny-model | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/make-tiny-model" --kind dense --out "$work/bench.gguf" >/dev/null
python3 bench/supervisor/bench.py --llama-orch "$bin/llama-orch" --stub "$bin/stub-llama-server" \
    --model "$work/bench.gguf" "$@"
