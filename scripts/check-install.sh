#!/usr/bin/env bash
# Checks installing llama-orch as a tool (scripts/install.sh) and its archive (scripts/package.sh), the way a user
# would meet them:
#   - install into a temporary prefix: PREFIX/bin/llama-orch runs --version (with the commit) and drivers; the bash
#     completion passes `bash -n` (zsh and fish ones `zsh -n`, `fish -n` where those shells exist); the manual page
#     renders with `man -l` without warnings; a second install changes nothing; --uninstall leaves the prefix empty;
#   - the archive: its SHA-256 checks, it holds the binary, completions, manual page, README.md and LICENSE, and its
#     binary needs no Swift library (ldd) and runs --version and inspect on a generated model with an empty
#     LD_LIBRARY_PATH and no toolchain on the PATH.
#
#   scripts/check-install.sh [--binary PATH]   # default: the release build (scripts/release-build.sh llama-orch)
#
# Exits non-zero with a message on the first failure; what a check needs and is missing is a failure that says what
# to install.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "check-install: FAILED: $*" >&2
  exit 1
}
say() { echo "check-install: $*" >&2; }
binary=${LLAMA_ORCH_BINARY:-}
if [ "${1:-}" = --binary ]; then binary=${2:?--binary takes a path}; fi
for tool in man strip ldd sha256sum tar; do
  command -v "$tool" >/dev/null || fail "'$tool' is missing: install man-db, binutils and coreutils (scripts/setup.sh)"
done
if [ -z "$binary" ]; then
  say "building the release binary (scripts/release-build.sh llama-orch)"
  binary="$(scripts/release-build.sh llama-orch | tail -n 1)/llama-orch"
fi
swift build --product make-tiny-model >&2
make_model="$(swift build --show-bin-path)/make-tiny-model"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

say "installing into $prefix"
scripts/install.sh --prefix "$prefix" --binary "$binary" >"$work/install.out" 2>&1 \
  || { cat "$work/install.out" >&2; fail "scripts/install.sh failed"; }
grep -q "is not on your PATH" "$work/install.out" || fail "install did not warn that $prefix/bin is not on the PATH"
grep -q "$prefix/bin/llama-orch" "$work/install.out" || fail "install did not say where it put the binary"
installed=(bin/llama-orch share/bash-completion/completions/llama-orch share/zsh/site-functions/_llama-orch
  share/fish/vendor_completions.d/llama-orch.fish share/man/man1/llama-orch.1)
for file in "${installed[@]}"; do
  [ -s "$prefix/$file" ] || fail "install did not write $prefix/$file"
done
version=$("$prefix/bin/llama-orch" --version) || fail "'llama-orch --version' failed"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "'llama-orch --version' printed '$version', not a version"
if git rev-parse HEAD >/dev/null 2>&1; then
  [[ "$version" == *"(commit $(git rev-parse --short=12 HEAD)"* ]] \
    || fail "'llama-orch --version' printed '$version', without the commit $(git rev-parse --short=12 HEAD)"
fi
"$prefix/bin/llama-orch" drivers | grep -q '^cpu' || fail "'llama-orch drivers' does not list cpu"
bash -n "$prefix/share/bash-completion/completions/llama-orch" || fail "the bash completion does not parse"
grep -q "complete .*llama-orch" "$prefix/share/bash-completion/completions/llama-orch" \
  || fail "the bash completion registers nothing for llama-orch"
if command -v zsh >/dev/null; then zsh -n "$prefix/share/zsh/site-functions/_llama-orch" || fail "zsh completion"; fi
if command -v fish >/dev/null; then fish -n "$prefix/share/fish/vendor_completions.d/llama-orch.fish" || fail "fish"; fi
page=$(MANWIDTH=100 man --warnings -l "$prefix/share/man/man1/llama-orch.1" 2>"$work/man.err") \
  || fail "man -l cannot render the manual page: $(cat "$work/man.err")"
[ ! -s "$work/man.err" ] || fail "the manual page renders with warnings: $(cat "$work/man.err")"
for section in NAME SYNOPSIS DESCRIPTION; do
  grep -q "^$section" <<<"$page" || fail "the manual page has no $section section"
done
grep -Eq '^ +up +Place and start instances' <<<"$page" || fail "the manual page does not describe the subcommands (no 'up')"

say "installing again (idempotent)"
listing() { (cd "$prefix" && find . | sort && md5sum "${installed[@]}"); }
before=$(listing)
scripts/install.sh --prefix "$prefix" --binary "$binary" >/dev/null 2>&1 || fail "the second install failed"
[ "$(listing)" = "$before" ] || fail "a second install changed the prefix"

say "uninstalling"
mkdir -p "$prefix/bin" && touch "$prefix/bin/other-tool" # someone else's file in a shared folder stays
scripts/install.sh --prefix "$prefix" --uninstall >/dev/null || fail "--uninstall failed"
[ "$(cd "$prefix" && find . -mindepth 1)" = "./bin
./bin/other-tool" ] || fail "--uninstall left or removed the wrong things: $(cd "$prefix" && find . -mindepth 1)"
rm -r "$prefix"

say "packaging"
archive=$(scripts/package.sh --binary "$binary" --out "$work/dist") || fail "scripts/package.sh failed"
arch=$(uname -m)
[[ "$(basename "$archive")" == "llama-orch-${version%% *}-linux-$arch.tar.gz" ]] || fail "archive named $archive"
(cd "$work/dist" && sha256sum --quiet -c "$(basename "$archive").sha256") || fail "the archive's SHA-256 does not check"
mkdir "$work/unpacked"
tar -C "$work/unpacked" -xzf "$archive"
top="$work/unpacked/$(basename "$archive" .tar.gz)"
for file in "${installed[@]}" README.md LICENSE; do
  [ -s "$top/$file" ] || fail "the archive has no $file"
done
if ldd "$top/bin/llama-orch" | grep -Ei 'swift|Foundation|dispatch|not found'; then
  fail "the archive's binary needs the libraries above (it must link the Swift runtime statically)"
fi

say "running the archive's binary with no toolchain visible"
"$make_model" --kind dense --out "$work/tiny.gguf" >/dev/null
bare() { env -i HOME="$work" PATH=/usr/bin:/bin LD_LIBRARY_PATH= "$@"; }
bare sh -c 'command -v swift' >/dev/null && fail "swift is on /usr/bin:/bin; this check needs it elsewhere"
bare "$top/bin/llama-orch" --version >/dev/null || fail "the archive's binary does not run --version without Swift"
bare "$top/bin/llama-orch" inspect "$work/tiny.gguf" >"$work/inspect.out" 2>&1 \
  || { cat "$work/inspect.out" >&2; fail "the archive's binary does not run inspect without Swift"; }
grep -q "llama" "$work/inspect.out" || fail "inspect printed no profile: $(head -n 5 "$work/inspect.out")"

say "ok: installed, completed, manual page, idempotent, uninstalled cleanly; archive $(basename "$archive") runs" \
  "without Swift ($(du -h "$top/bin/llama-orch" | cut -f1) stripped)"
