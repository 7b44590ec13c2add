#!/usr/bin/env bash
# Checks that a driver added in-tree is picked up with no other edit: scaffolds drivers/NAME with the
# new-driver plugin, builds, checks that 'llama-orch drivers' lists it and that its scaffolded test passes,
# removes it, rebuilds and checks that it is gone. Also checks that bad and taken names are refused.
#
#   scripts/check-new-driver.sh [NAME]      # NAME defaults to citest; letters and digits only
#
# Exits non-zero with a message on the first failure; the scaffolded files are removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."

name=${1:-citest}
[[ "$name" =~ ^[a-z][a-z0-9]*$ ]] || { echo "check-new-driver: NAME must be lowercase letters and digits" >&2; exit 64; }
type="${name^}Driver"
driver_dir="drivers/$name"
test_file="Tests/DriversTests/${type}Tests.swift"

fail() { echo "check-new-driver: FAILED: $*" >&2; exit 1; }
[ -e "$driver_dir" ] && { echo "check-new-driver: $driver_dir already exists; pass another NAME" >&2; exit 1; }
[ -e "$test_file" ] && { echo "check-new-driver: $test_file already exists; pass another NAME" >&2; exit 1; }

cleanup() { rm -rf "$driver_dir" "$test_file"; }
trap cleanup EXIT

say() { echo "check-new-driver: $*" >&2; }
# The listing is captured first: with pipefail, 'grep -q' closing the pipe early would fail the pipeline.
listed() {
  local listing
  listing=$("$bin" drivers --json) || fail "'llama-orch drivers --json' failed"
  grep -q "\"name\" : \"$name\"" <<<"$listing"
}

say "refusing bad and taken names"
if swift package --allow-writing-to-package-directory new-driver Bad-Name >/dev/null 2>&1; then
  fail "new-driver accepted 'Bad-Name'"
fi
if swift package --allow-writing-to-package-directory new-driver cpu >/dev/null 2>&1; then
  fail "new-driver accepted 'cpu', which exists"
fi

say "scaffolding $driver_dir"
swift package --allow-writing-to-package-directory new-driver "$name" || fail "the new-driver plugin failed"
[ -f "$driver_dir/$type.swift" ] || fail "new-driver did not create $driver_dir/$type.swift"
[ -f "$test_file" ] || fail "new-driver did not create $test_file"

say "building with $driver_dir"
swift build --build-tests || fail "the scaffolded driver does not build"
bin="$(swift build --show-bin-path)/llama-orch"
listed || fail "'llama-orch drivers' does not list '$name' (the DriverRegistryPlugin missed drivers/$name)"
swift test --skip-build --filter "${type}Tests" || fail "the scaffolded test ${type}Tests fails"

say "removing $driver_dir and rebuilding"
cleanup
swift build --build-tests || fail "the build fails after removing $driver_dir"
listed && fail "'llama-orch drivers' still lists '$name' after it was removed"

say "ok: drivers/$name was picked up by a rebuild and dropped by the next"
