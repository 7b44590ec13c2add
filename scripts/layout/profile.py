#!/usr/bin/env python3
"""Profiles which code and constant data an idle llama-orch daemon touches and writes the symbol order that
release links use to put those together (Sources/llama-orch/daemon.order). scripts/profile-layout.sh builds
what this needs and calls it.

Why: once the daemon is quiet it gives its code pages back (IdleTrim) and faults back in only what supervising
uses. The kernel maps the 64 KiB around each fault (the pages already in the page cache), so when the hot
functions are spread over the 25 MB of code, every probe round brings back megabytes of cold code around them. Laid out together, the hot
functions are a few hundred KiB.

How:
1. The daemon runs 50 stub instances with the default 10 s HTTP probes (benchmark (c)'s set-up), with the
   split-pages aid preloaded: every page of the executable is a mapping of its own, so a page is resident only
   if the daemon touched it.
2. After the daemon's idle trim and a minute of supervising, the resident pages of the executable that are still
   the file's are read from /proc/<pid>/pagemap (pages written at load, by relocations, are always there).
3. The linker map (lld's -Map, --no-demangle) says which input sections lie on those pages. A section that is
   one function or one small object's code is listed by a symbol defined nowhere else (lld moves every section
   that defines a listed name); big sections that can't be moved piecemeal (the Swift runtime's
   non-function-sectioned code) are left where they are.

Usage: profile.py --llama-orch BIN --map MAP --aid SPLIT_PAGES_SO --stub BIN --model GGUF --out FILE
"""
import argparse
import collections
import json
import os
import re
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "supervisor"))
import bench  # noqa: E402  (the benchmark's Orchestrator and helpers)

WINDOW = 60  # seconds of supervising profiled after that
MOVABLE = 16 << 10  # a section of its own (one function, one datum) up to this size is moved
SMALL_OBJECT = 48 << 10  # an object's whole unsplit .text or .rodata up to this size is moved too
PAGE = os.sysconf("SC_PAGE_SIZE")
MAP_LINE = re.compile(r"^\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+) (\s*)(.*)$")


def parse_map(path):
    """lld's -Map as [output section, input section, address, size, object, [symbols]]."""
    sections, output = [], None
    with open(path, errors="replace") as handle:
        for line in handle:
            match = MAP_LINE.match(line)
            if not match:
                continue
            address, size, indent, rest = int(match.group(1), 16), int(match.group(3), 16), len(match.group(5)), match.group(6)
            if indent == 0:
                output = rest.strip()
            elif indent == 8:
                obj, _, name = rest.rpartition(":(")
                sections.append([output, name[:-1], address, size, obj, []])
            elif indent >= 16 and sections:
                sections[-1][5].append(rest.strip())
    return sections


def touched_pages(pid, exe):
    """Offsets from the load address of the pages of `exe` that process `pid` has resident from the file."""
    base, pages, mappings = None, [], 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            parts = line.split()
            if len(parts) < 6 or parts[5] != exe:
                continue
            mappings += 1
            low, high = (int(x, 16) for x in parts[0].split("-"))
            if base is None and int(parts[2], 16) == 0:
                base = low
            pagemap.seek(low // PAGE * 8)
            entries = pagemap.read((high - low) // PAGE * 8)
            for index in range(len(entries) // 8):
                entry = struct.unpack_from("<Q", entries, index * 8)[0]
                if entry >> 63 and (entry >> 61) & 1:  # present, and a page of the file
                    pages.append(low + index * PAGE)
    if base is None:
        raise SystemExit(f"profile.py: {exe} is not mapped in process {pid}")
    if mappings < 1000:
        raise SystemExit(f"profile.py: {exe} has {mappings} mappings in process {pid}: the split-pages aid did not "
                         "run (is it built for this machine, and LAYOUT_PROFILE_EXE the executable's real path?)")
    return {page - base for page in pages}


def movable(section):
    name, size = section[1], section[3]
    if name.startswith((".rodata.str", ".rodata.cst")):  # merged constants: one synthetic section, not movable
        return False
    return size <= (SMALL_OBJECT if name in (".text", ".rodata") else MOVABLE)


def hot_symbols(sections, pages):
    defined = collections.defaultdict(list)
    for section in sections:
        for symbol in section[5]:
            defined[symbol].append(section)
    symbols, moved, left = [], collections.Counter(), collections.Counter()
    for section in sections:
        output, _, address, size, _, names = section
        if size == 0 or output not in (".text", ".rodata"):
            continue
        if not any(page in pages for page in range(address // PAGE * PAGE, address + size, PAGE)):
            continue
        # A symbol that names this section alone: lld moves every section that defines a listed name, and local
        # names (merged `...Tm` functions, `__unnamed_N`) are defined in many objects.
        names = [name for name in names if len(defined[name]) == 1]
        if not movable(section) or not names:
            left[output] += size
            continue
        moved[output] += size
        symbols.append(names[0])
    return list(dict.fromkeys(symbols)), moved, left


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--llama-orch", "--map", "--aid", "--stub", "--model", "--out"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    exe = os.path.realpath(args.llama_orch)
    with open(exe, "rb") as handle:
        if handle.read(18)[16:18] != b"\x03\x00":  # e_type ET_DYN: position-independent, loaded at its vaddr 0
            raise SystemExit(f"profile.py: {exe} is not a position-independent executable")
    os.environ["LD_PRELOAD"] = os.path.abspath(args.aid)
    os.environ["LAYOUT_PROFILE_EXE"] = exe
    with tempfile.TemporaryDirectory(prefix="llama-orch-layout-") as work:
        orch = None
        try:
            orch = bench.Orchestrator(f"{work}/orch", exe, os.path.abspath(args.stub), os.path.abspath(args.model),
                                      bench.free_ports(50), interval=10)
            orch.up_all()
            time.sleep(bench.SETTLE + WINDOW)  # the benchmark's settling, then a minute of supervising
            pages = touched_pages(orch.pid, exe)
            with open(f"/proc/{orch.pid}/status") as status:
                rss = next(line.split(":")[1].strip() for line in status if line.startswith("VmRSS"))
        finally:
            if orch:
                orch.close()
    symbols, moved, left = hot_symbols(parse_map(args.map), pages)
    if not symbols:
        raise SystemExit(f"profile.py: no movable section on the {len(pages)} pages touched; {args.out} left as it was")
    print(f"profile: {len(pages)} pages of the executable touched; RSS with one-page mappings {rss}")
    for output in (".text", ".rodata"):
        print(f"profile: {output}: {moved[output] >> 10} KiB in {output} laid out together, "
              f"{left[output] >> 10} KiB touched but not movable")
    with open(args.out + ".tmp", "w") as handle:
        handle.write("# The daemon's hot code and constants, in this order at the start of their sections (release\n"
                     "# links, lld --symbol-ordering-file). Written by scripts/profile-layout.sh; see the README.\n")
        handle.write("".join(symbol + "\n" for symbol in symbols))
    os.replace(args.out + ".tmp", args.out)
    print(f"profile: {len(symbols)} symbols written to {args.out}")


if __name__ == "__main__":
    main()
