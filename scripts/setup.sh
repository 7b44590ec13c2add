#!/usr/bin/env bash
# Installs what llama-orch's build, tests and demo need on a fresh Debian 12 machine, and builds the
# pinned llama-server once (cached under ~/.cache/llama-orch/). `--tests` also builds the older one the tests use. Safe to run again: it only does what
# is missing. Run as root (or with sudo available) for the system packages.
set -euo pipefail

packages=(libsqlite3-dev libvulkan-dev mesa-vulkan-drivers vulkan-tools cmake g++ tmux python3-pip
  glslc spirv-headers glslang-tools systemd man-db binutils curl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

python3 - <<'PY' 2>/dev/null || { echo "setup: installing Python packages gguf, jsonschema, kubernetes-validate, openai" >&2; python3 -m pip install -q --disable-pip-version-check gguf jsonschema kubernetes-validate openai >&2; }
import gguf, jsonschema, kubernetes_validate, openai
PY

command -v swift >/dev/null || { echo "setup: Swift 6 is required (https://www.swift.org/install/); 'swift' is not on PATH" >&2; exit 69; }

# With --tests: also both llama.cpp versions with the Vulkan backend, which the tests run on Mesa's lavapipe: the
# older one (before --fit and the 2026 -ngl change) checks that the command builder speaks both versions, and the
# estimator is measured against both (the newer one, the version users run, takes about 22 minutes to build once).
if [ "${1:-}" = "--tests" ]; then
  "$(dirname "$0")/build-llama-server.sh" --old --vulkan >/dev/null
  "$(dirname "$0")/build-llama-server.sh" --vulkan >/dev/null
fi
"$(dirname "$0")/build-llama-server.sh"
