#!/usr/bin/env python3
"""Every "default" of config/certheal.schema.json is the default docs/configuration.md states,
and every key of the schema that has one is in the docs' tables: the schema an editor shows and
the page an admin reads cannot drift apart unnoticed.

A schema property's key in the docs is its path: service.K, sites[].K (the site keys, also
valid in `defaults`), tls.K, remediation.K, remediation.steps[].K and
remediation.steps[].verify.K. The docs' tables give it in the first column (`key`, in a code
span) and the default in the column headed "default": its first code span, read as JSON when it
is JSON (`64`, `[200]`, `"403\\.7"`, `true`) and as a string otherwise (`30s`).

usage: config_docs_check.py SCHEMA DOC
"""
import json
import re
import sys

PREFIXES = {
    "service": "service.",
    "siteProperties": "sites[].",
    "tls": "tls.",
    "remediation": "remediation.",
    "step": "remediation.steps[].",
}


def schema_defaults(schema):
    """(docs key, default, JSON pointer) for every property with a default."""
    found = []

    def walk(node, pointer, prefix, path):
        if isinstance(node, dict):
            if "default" in node and path:
                found.append((prefix + ".".join(path), node["default"], pointer))
            for key, value in node.items():
                if key in ("properties",) and isinstance(value, dict):
                    for name, child in value.items():
                        walk(child, f"{pointer}/properties/{name}", prefix, path + [name])
                elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
                    for index, child in enumerate(value):
                        walk(child, f"{pointer}/{key}/{index}", prefix, path)

    for name, definition in schema.get("$defs", {}).items():
        if name not in PREFIXES:
            continue
        if name == "siteProperties":  # a map of properties, for site and defaults to $ref
            for key, child in definition.items():
                walk(child, f"/$defs/{name}/{key}", PREFIXES[name], [key])
        else:
            walk(definition, f"/$defs/{name}", PREFIXES[name], [])
    return found


def documented_defaults(text):
    """docs key -> the default cell's first code span, from every table with a default column."""
    rows = {}
    default_column = None
    for line in text.splitlines():
        if not line.startswith("|"):
            default_column = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if default_column is None:
            default_column = cells.index("default") if "default" in cells else -1
            continue
        if default_column < 0 or set("".join(cells)) <= set("-: "):
            continue
        key = re.match(r"`([^`]+)`", cells[0])
        if not key or default_column >= len(cells):
            continue
        value = re.search(r"`([^`]+)`", cells[default_column])
        rows[key.group(1)] = value.group(1) if value else cells[default_column]
    return rows


def main():
    schema_path, doc_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(doc_path, encoding="utf-8") as f:
        documented = documented_defaults(f.read())

    failures = 0
    defaults = schema_defaults(schema)
    checked = set()
    for key, default, pointer in defaults:
        if key in checked:
            continue  # the same key in several step kinds
        checked.add(key)
        if key not in documented:
            print(f"config-docs: FAIL: {pointer} has a default ({json.dumps(default)}), but {doc_path} has no row for `{key}`")
            failures += 1
            continue
        text = documented[key]
        try:
            stated = json.loads(text)
        except ValueError:
            stated = text
        if stated != default:
            print(f"config-docs: FAIL: `{key}`: the schema's default is {json.dumps(default)} ({pointer}), "
                  f"the docs say {text}")
            failures += 1
    if len(checked) < 10:
        print(f"config-docs: FAIL: only {len(checked)} default(s) found in the schema; is it the right file?")
        failures += 1
    if failures:
        sys.exit(1)
    print(f"config-docs: ok: the {len(checked)} defaults of the schema are the docs' defaults")


if __name__ == "__main__":
    main()
