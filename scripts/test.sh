#!/usr/bin/env bash
# The test command: sets up what the tests need (scripts/setup.sh), builds everything, runs the whole
# suite against the real llama-server, libvulkan (lavapipe) and SQLite, then the extra checks.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_SERVER=$(scripts/setup.sh --tests | tail -n 1)
export LLAMA_SERVER
echo "test: llama-server at $LLAMA_SERVER" >&2

swift build --build-tests
# One suite at a time: several suites measure time (backoff, probe timeouts) and others load the CPU with
# real llama-servers; run together on 2 cores the timing ones would measure the machine, not the code.
swift test --skip-build --no-parallel 2>&1 | tee .build/test-output.txt

# A driver added in-tree is picked up by the next build with no other edit (scaffold, build, list, remove).
scripts/check-new-driver.sh

# Installed as a tool and packaged (scripts/install.sh, scripts/package.sh): into a temporary prefix and out again,
# and the archive's binary run with no Swift toolchain visible. From the release build the supervisor benchmark
# measures too (scripts/release-build.sh), so CI builds it once.
scripts/check-install.sh

# The estimator against the real llama-server: quick grids, their tables printed (scripts/bench-accuracy.sh runs
# the full ones: 180 calibration points and 85 at realistic scale on the CPU and both Vulkan builds).
"$(swift build --show-bin-path)/bench-accuracy" --quick
"$(swift build --show-bin-path)/bench-accuracy" --quick --scale
