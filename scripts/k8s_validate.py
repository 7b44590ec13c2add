#!/usr/bin/env python3
"""Validates Kubernetes manifests offline against the real schemas, strictly (PyPI kubernetes-validate).

Usage: k8s_validate.py VERSION[,VERSION...] FILE...
Each FILE is a YAML stream; every document in it is checked against each VERSION (1.33 ... 1.37) with
strict=True: an unknown field is an error, and so is a kind whose schema the version lacks (the library's own
command line only warns about that). Files whose documents are kustomize's (kind Kustomization) are skipped.
Prints one line per document and version, "ok ..." or "error ..."; exits 1 when any failed, 2 on bad usage.
Used by the KubernetesExport tests; `pip install kubernetes-validate` (scripts/setup.sh does it).
"""
import sys

try:
    import kubernetes_validate
    import yaml
except ImportError as error:
    sys.exit(
        f"k8s_validate.py: {error.name} is missing; run: python3 -m pip install kubernetes-validate "
        "(scripts/setup.sh installs it)"
    )

# The library reads and parses each schema file at every call; the files don't change within a run, so read each
# once (a few hundred documents take seconds instead of a minute).
import functools
import kubernetes_validate.utils

kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)

if len(sys.argv) < 3:
    sys.exit("usage: k8s_validate.py VERSION[,VERSION...] FILE...")

versions = sys.argv[1].split(",")
failed = False
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as handle:
        documents = [document for document in yaml.safe_load_all(handle) if document]
    for document in documents:
        kind = document.get("kind", "?")
        name = document.get("metadata", {}).get("name", "?")
        if kind == "Kustomization":
            continue
        for version in versions:
            where = f"{path} {kind}/{name} {version}"
            try:
                kubernetes_validate.validate(document, version, strict=True)
                print(f"ok {where}")
            except kubernetes_validate.ValidationError as error:
                failed = True
                field = ".".join(str(part) for part in error.path)
                print(f"error {where}: {field}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                failed = True
                print(f"error {where}: {error.message}")
            except Exception as error:  # an unsupported version, an unreadable schema
                failed = True
                print(f"error {where}: {type(error).__name__}: {error}")
sys.exit(1 if failed else 0)
