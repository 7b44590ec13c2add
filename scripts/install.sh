#!/usr/bin/env bash
# Installs llama-orch as a command-line tool: the release binary (the Swift runtime linked in, stripped) in
# PREFIX/bin, its bash, zsh and fish completions (ArgumentParser's --generate-completion-script) and its manual page
# (ArgumentParser's generate-manual tool, the one its GenerateManual plugin runs) under PREFIX/share. Says what it
# installed and where, and warns when PREFIX/bin is not on the PATH. Running it again installs the same files again;
# --uninstall removes exactly what the installs recorded in PREFIX/share/llama-orch/installed-files: the files, and
# the folders they created when those are empty.
#
#   scripts/install.sh [--prefix DIR] [--binary PATH] [--uninstall] [--quiet]
#
#   --prefix DIR   where to install (default ~/.local, or /usr/local when run as root)
#   --binary PATH  install this llama-orch binary (also LLAMA_ORCH_BINARY) instead of building the release one with
#                  scripts/release-build.sh (15 to 25 minutes on 2 cores the first time, seconds after)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '9,13s/^# \{0,1\}//p' "$0"; }
say() { [ "$quiet" = true ] || echo "install: $*"; }
fail() {
  echo "install: $*" >&2
  exit 1
}

prefix=""
binary=${LLAMA_ORCH_BINARY:-}
uninstall=false
quiet=false
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || fail "--prefix takes a folder"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --binary) [ $# -ge 2 ] || fail "--binary takes a path"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --uninstall) uninstall=true; shift ;;
    --quiet) quiet=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown argument '$1'" ;;
  esac
done
if [ -z "$prefix" ]; then
  if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
[ "$uninstall" = true ] || mkdir -p "$prefix"
prefix=$(cd "$prefix" 2>/dev/null && pwd) || fail "no folder $prefix"

# What an install writes, relative to the prefix; the record lists these and the folders the install created.
bin_file=bin/llama-orch
bash_file=share/bash-completion/completions/llama-orch
zsh_file=share/zsh/site-functions/_llama-orch
fish_file=share/fish/vendor_completions.d/llama-orch.fish
man_file=share/man/man1/llama-orch.1
record=share/llama-orch/installed-files

if [ "$uninstall" = true ]; then
  [ -f "$prefix/$record" ] || fail "nothing to uninstall: no $prefix/$record (was llama-orch installed with --prefix $prefix?)"
  mapfile -t entries < <(sort -r "$prefix/$record")
  rm -f "$prefix/$record"
  # Files first, then the folders the install created, deepest first, each only when empty.
  for entry in "${entries[@]}"; do
    case "$entry" in
      file\ *) rm -f "$prefix/${entry#file }" && say "removed $prefix/${entry#file }" ;;
    esac
  done
  for entry in "${entries[@]}"; do
    case "$entry" in
      dir\ *) rmdir "$prefix/${entry#dir }" 2>/dev/null || true ;;
    esac
  done
  exit 0
fi

if [ -z "$binary" ]; then
  say "building llama-orch in release mode (scripts/release-build.sh)"
  binary="$(scripts/release-build.sh llama-orch | tail -n 1)/llama-orch"
fi
[ -x "$binary" ] || fail "no llama-orch binary at $binary"
command -v strip >/dev/null || fail "'strip' is missing: install binutils (apt-get install binutils)"

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
strip -o "$staging/llama-orch" "$binary"
"$staging/llama-orch" --version >/dev/null || fail "$binary does not run"
for shell in bash zsh fish; do
  "$staging/llama-orch" --generate-completion-script "$shell" >"$staging/completion.$shell"
done

# The manual page: ArgumentParser's generate-manual reads the command tree from the binary (--experimental-dump-help).
# Its GenerateManual plugin would first build every product of the package in release mode; the tool alone is enough.
# One built already is used as it is, so that root needs no swift (nor writes into your .build) for /usr/local.
generate_manual=.build/debug/generate-manual
if [ ! -x "$generate_manual" ]; then
  swift build --product generate-manual >&2 || fail "cannot build ArgumentParser's generate-manual tool"
  generate_manual="$(swift build --show-bin-path)/generate-manual"
fi
mkdir "$staging/man"
"$generate_manual" "$staging/llama-orch" --output-directory "$staging/man" >&2
[ -f "$staging/man/llama-orch.1" ] || fail "generate-manual wrote no llama-orch.1"
# generate-manual copies a discussion's blank lines as they are, which mdoc warns about: a paragraph break is .Pp.
sed -i 's/^$/.Pp/' "$staging/man/llama-orch.1"

# Folders this install creates (recorded, so --uninstall removes them when empty); those of an earlier install kept.
created=$(grep '^dir ' "$prefix/$record" 2>/dev/null || true)
for file in "$bin_file" "$bash_file" "$zsh_file" "$fish_file" "$man_file" "$record"; do
  dir=$(dirname "$file")
  while [ "$dir" != . ]; do
    [ -d "$prefix/$dir" ] || created+=$'\n'"dir $dir"
    dir=$(dirname "$dir")
  done
done
for file in "$bin_file" "$bash_file" "$zsh_file" "$fish_file" "$man_file" "$record"; do
  mkdir -p "$prefix/$(dirname "$file")"
done

install -m 0755 "$staging/llama-orch" "$prefix/$bin_file"
install -m 0644 "$staging/completion.bash" "$prefix/$bash_file"
install -m 0644 "$staging/completion.zsh" "$prefix/$zsh_file"
install -m 0644 "$staging/completion.fish" "$prefix/$fish_file"
install -m 0644 "$staging/man/llama-orch.1" "$prefix/$man_file"
{
  printf 'file %s\n' "$bin_file" "$bash_file" "$zsh_file" "$fish_file" "$man_file"
  grep -v '^$' <<<"$created" | sort -u || true
} >"$prefix/$record"

say "installed $("$prefix/$bin_file" --version | head -n 1) ($(du -h "$prefix/$bin_file" | cut -f1), stripped):"
say "  $prefix/$bin_file"
say "  $prefix/$bash_file (bash completion)"
say "  $prefix/$zsh_file (zsh completion)"
say "  $prefix/$fish_file (fish completion)"
say "  $prefix/$man_file (man llama-orch)"
say "remove them with: scripts/install.sh --prefix $prefix --uninstall"
case "$quiet:$PATH:" in
  true:* | *":$prefix/bin:"*) ;;
  *) echo "install: warning: $prefix/bin is not on your PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
if [ "$prefix" != /usr/local ] && [ "$prefix" != /usr ]; then
  say "zsh: add $prefix/share/zsh/site-functions to fpath before compinit; fish reads" \
    "$prefix/share/fish/vendor_completions.d when it is under XDG_DATA_DIRS"
fi
