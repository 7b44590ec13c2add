#!/usr/bin/env bash
# The supervisor benchmark: llama-orch's daemon beside supervisord on the same stub server (bench/supervisor/
# bench.py says what is measured and the targets). Pass --quick for the short CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import supervisor' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check supervisor >&2
swift build --product llama-orch >&2
swift build --product make-tiny-model >&2
swift build --product stub-llama-server >&2
bin=$(swift build --show-bin-path)
model=$(mktemp -d)/bench.gguf
"$bin/make-tiny-model" --kind dense --out "$model" >/dev/null
python3 bench/supervisor/bench.py --llama-orch "$bin/llama-orch" --stub "$bin/stub-llama-server" --model "$model" "$@"
