#!/usr/bin/env bash
# What the CLI's blocking control client (PlainHTTP) buys over AsyncHTTPClient: a daemon with N configured
# instances (default 100) answers GET /v1/instances?all=1, asked by a new process each time, through each client
# in turn (and by `llama-orch ps -a --json` itself); prints the median and p90 wall time of each and the ratio.
#
# Usage: scripts/bench-control-client.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100}
rounds=${2:-40}
bin=$(scripts/release-build.sh llama-orch make-tiny-model bench-control-client | tail -n 1)
work=$(mktemp -d)
trap '"$bin/llama-orch" daemon stop --root "$work" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/instances" "$work/models"
"$bin/make-tiny-model" --kind dense --out "$work/models/tiny.gguf" >/dev/null
for i in $(seq 1 "$count"); do
    "$bin/llama-orch" init "i$i" --model "$work/models/tiny.gguf" --port $((20000 + i)) --root "$work" >/dev/null
done
"$bin/llama-orch" daemon start --root "$work" >/dev/null
python3 - "$bin" "$work" "$rounds" <<'PY'
import statistics, subprocess, sys, time
bin, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
socket = f"{work}/state/daemon.sock"
commands = {
    "PlainHTTP (blocking, no event loop)": [f"{bin}/bench-control-client", "plain", socket, "/v1/instances?all=1"],
    "AsyncHTTPClient (event loop)": [f"{bin}/bench-control-client", "ahc", socket, "/v1/instances?all=1"],
    "llama-orch ps -a --json": [f"{bin}/llama-orch", "ps", "-a", "--json", "--root", work],
}
times = {name: [] for name in commands}
for _ in range(3):  # warm-up: page cache, the daemon's first answers
    for argv in commands.values(): subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
for _ in range(rounds):
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times[name].append((time.perf_counter() - start) * 1000)
medians = {}
for name, values in times.items():
    values.sort()
    medians[name] = statistics.median(values)
    print(f"{name:40s} median {medians[name]:6.2f} ms   p90 {values[int(len(values) * 0.9) - 1]:6.2f} ms")
plain, ahc = medians["PlainHTTP (blocking, no event loop)"], medians["AsyncHTTPClient (event loop)"]
print(f"AsyncHTTPClient / PlainHTTP: {ahc / plain:.2f} ({ahc - plain:+.2f} ms a command)")
PY
