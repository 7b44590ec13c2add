#!/usr/bin/env bash
# The estimator's full accuracy grids against the real llama-server builds, as markdown tables:
#   1. calibration: the small fixtures on the CPU (180 points, about 7 minutes);
#   2. realistic scale (--scale): 8B, 3B, 1.5B and MoE fixtures on the CPU and with partial offloads on Mesa's
#      lavapipe through both Vulkan builds, with and without op offload (85 points, about 10 minutes).
# Needs the builds scripts/setup.sh --tests makes. Prints the tables; bench/ESTIMATOR.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_SERVER=$(scripts/setup.sh --tests | tail -n 1)
export LLAMA_SERVER
swift build --product bench-accuracy >&2
bench="$(swift build --show-bin-path)/bench-accuracy"
echo "## Calibration grid (CPU)"
"$bench" --markdown
echo
echo "## Realistic scale (CPU and Vulkan on lavapipe)"
"$bench" --scale --markdown
