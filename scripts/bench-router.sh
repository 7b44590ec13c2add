#!/usr/bin/env bash
# The router benchmark: the latency and throughput llama-orch's router adds over talking to llama-server
# directly, beside llama.cpp's own router mode, and 64 streams relayed at once (bench/router/bench.py says what
# is measured and the goals). Measures the release build the way llama-orch is installed (scripts/release-build.sh)
# and the pinned llama-server (scripts/setup.sh builds it once); installs wrk (Debian) when it is missing.
#
# Usage: scripts/bench-router.sh [--quick]
#   --quick  300 requests per target and 5 s wrk runs; without it 3,000 and 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "bench-router: installing wrk" >&2
    $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >&2
fi
llama_server=$(scripts/setup.sh | tail -n 1)
bin=$(scripts/release-build.sh llama-orch stub-llama-server make-tiny-model bench-router-floor | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/make-tiny-model" --kind dense --out "$work/tiny.gguf" >/dev/null
python3 bench/router/bench.py --llama-orch "$bin/llama-orch" --llama-server "$llama_server" \
    --stub "$bin/stub-llama-server" --floor "$bin/bench-router-floor" --model "$work/tiny.gguf" "$@"
