#!/usr/bin/env bash
# The demo: builds what it needs, writes a tiny generated model to models/demo.gguf and runs the demo
# instance declared in instances/demo/config.json as far as llama-orch can today.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_SERVER=$(scripts/setup.sh | tail -n 1)
export LLAMA_SERVER
swift build --product llama-orch >&2
orch=.build/debug/llama-orch

mkdir -p models
if [ ! -f models/demo.gguf ]; then
  echo "demo: the tiny model writer is not built yet; writing a placeholder GGUF header" >&2
  printf 'GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' > models/demo.gguf
fi

echo "\$ llama-orch config validate demo"
"$orch" config validate demo

echo
echo "demo: the supervisor (llama-orch up/ps/down) is not built yet; this demo stops at validation."
