#!/usr/bin/env bash
# The supervisor benchmark: llama-orch's daemon beside supervisord (PyPI `supervisor`) on the same stub server,
# in one run (bench/supervisor/bench.py says what is measured and the targets). It measures a plain release
# build (`swift build -c release`), with no linker or layout flags.
#
# Usage: scripts/bench-supervisor.sh [--quick] [--only abcd]
#   --quick  3 repetitions and 20 s of sampling (CI); without it 10 repetitions and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import supervisor' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check supervisor >&2
for product in llama-orch stub-llama-server make-tiny-model; do
    swift build -c release --product "$product" >&2
done
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/make-tiny-model" --kind dense --out "$work/bench.gguf" >/dev/null
python3 bench/supervisor/bench.py --llama-orch "$bin/llama-orch" --stub "$bin/stub-llama-server" \
    --model "$work/bench.gguf" "$@"
