#!/usr/bin/env python3
"""Validates config files against a JSON Schema with the reference Python implementation (PyPI jsonschema).

Usage: jsonschema_check.py SCHEMA FILE...   Prints one line per file: "valid" or "invalid: <reason>".
Used by the tests to check that `llama-orch config schema` and the built-in validator agree.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("jsonschema_check.py: the Python package 'jsonschema' is missing; run: pip install jsonschema")

with open(sys.argv[1], encoding="utf-8") as handle:
    schema = json.load(handle)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except Exception as error:  # unreadable, not UTF-8, not JSON: invalid for any schema
        print(f"invalid: {type(error).__name__}")
        continue
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        print("invalid: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message[:80]}" for e in errors))
    else:
        print("valid")
