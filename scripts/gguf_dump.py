#!/usr/bin/env python3
"""Dump a GGUF file's header as JSON using llama.cpp's own Python reader (`pip install gguf`).

Used by the GGUF tests to cross-check llama-orch's reader field by field:
    python3 scripts/gguf_dump.py MODEL.gguf > dump.json
Output: {"version", "alignment", "data_offset", "metadata": {key: {"type", "element_type"?, "value"}},
"tensors": [{"name", "shape", "type", "offset", "n_bytes"}]}; offsets are relative to the data section.
"""
import json
import sys

import gguf
from gguf import GGUFValueType


def field_value(field):
    main = field.types[0]
    if main != GGUFValueType.ARRAY:
        return field.contents()
    return field.contents()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: gguf_dump.py MODEL.gguf", file=sys.stderr)
        return 64
    reader = gguf.GGUFReader(sys.argv[1])
    metadata = {}
    version = None
    for name, field in reader.fields.items():
        if name == "GGUF.version":
            version = int(field.parts[field.data[0]][0])
        if name.startswith("GGUF."):
            continue
        entry = {"type": field.types[0].name.lower(), "value": field_value(field)}
        if field.types[0] == GGUFValueType.ARRAY and len(field.types) > 1:
            entry["element_type"] = field.types[-1].name.lower()
        metadata[name] = entry
    tensors = [
        {
            "name": t.name,
            "shape": [int(x) for x in t.shape],
            "type": t.tensor_type.name,
            "offset": int(t.data_offset) - int(reader.data_offset),
            "n_bytes": int(t.n_bytes),
        }
        for t in reader.tensors
    ]
    out = {
        "version": version,
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "metadata": metadata,
        "tensors": tensors,
    }
    json.dump(out, sys.stdout, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    return 0


if __name__ == "__main__":
    sys.exit(main())
