#!/usr/bin/env bash
# The demo: builds what it needs (the pinned llama-server, cached; llama-orch), writes a tiny generated model
# to models/demo.gguf, and shows the demo instance declared in instances/demo/config.json: its config, the
# model, the devices, and the plan with the exact llama-server command.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_SERVER=$(scripts/setup.sh | tail -n 1)
export LLAMA_SERVER
echo "demo: building llama-orch (the first build takes a few minutes)" >&2
swift build --product llama-orch >&2
swift build --product make-tiny-model >&2
bin=$(swift build --show-bin-path)
orch="$bin/llama-orch"

mkdir -p models
[ -f models/demo.gguf ] || "$bin/make-tiny-model" --kind dense --out models/demo.gguf >/dev/null

step() { printf '\n$ llama-orch %s\n' "$*"; "$orch" "$@"; }
step config validate demo
step inspect models/demo.gguf
step devices
step plan demo

cat <<MSG

demo: the supervisor daemon (llama-orch up/ps/down) is not built yet, so the demo stops at the plan.
The command above is exactly what 'up' will run; paste it to start the server by hand.
MSG
