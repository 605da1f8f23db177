#!/usr/bin/env python3
"""Checks certheal's JSON Schema: it is itself a valid 2020-12 schema, every example
config given on the command line conforms, and typical mistakes are rejected (so the
schema cannot silently accept everything).

usage: schema_check.py SCHEMA EXAMPLE...
"""
import copy
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("schema_check: the python3 jsonschema module is missing (apt-get install python3-jsonschema)")


def main():
    schema_path, examples = sys.argv[1], sys.argv[2:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    failures = 0
    base = None
    for path in examples:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        for error in validator.iter_errors(document):
            failures += 1
            print(f"{path}: /{'/'.join(map(str, error.absolute_path))}: {error.message}")
        base = base or document

    def mutated(change):
        document = copy.deepcopy(base)
        change(document)
        return document

    def steps_of(document):
        """The first example's steps: its own list, or its first stage's."""
        remediation = document["remediation"]
        return remediation["steps"] if "steps" in remediation else remediation["stages"][0]["steps"]

    mistakes = {
        "unknown top-level key": lambda d: d.update(bogus=1),
        "unknown site key": lambda d: d["sites"][0].update(bogus=1),
        "http URL": lambda d: d["sites"][0].update(url="http://x/"),
        "unitless duration": lambda d: d["defaults"].update(interval="30"),
        "zero duration": lambda d: d["defaults"].update(interval="0s"),
        "threshold 0": lambda d: d["defaults"].update(failure_threshold=0),
        "unknown symptom": lambda d: d["defaults"].update(symptoms=["flaky"]),
        "status 700": lambda d: d["sites"][0].update(expect_status=[700]),
        "two step kinds": lambda d: steps_of(d).append({"stop_service": "A", "start_service": "B"}),
        "with_dependents on start": lambda d: steps_of(d).append({"start_service": "A", "with_dependents": True}),
        "unknown verify key": lambda d: steps_of(d).append({"verify": {"tries": 1}}),
        "steps and stages": lambda d: d["remediation"].update(steps=[{"start_service": "W3SVC"}]),
        "stage without name": lambda d: d["remediation"]["stages"][0].pop("name"),
        "unknown when key": lambda d: d["remediation"]["stages"][0].update(when={"site": ["a"]}),
        "unknown cause": lambda d: d["remediation"]["stages"][0].update(when={"cause": ["ca_untrusted"]}),
        "trust mode 3": lambda d: steps_of(d).append({"set_schannel": {"client_auth_trust_mode": 3}}),
        "empty set_schannel": lambda d: steps_of(d).append({"set_schannel": {}}),
        "public status_listen": lambda d: d.setdefault("service", {}).update(status_listen="0.0.0.0:9464"),
        "pem and pfx mixed": lambda d: d["sites"][0].update(
            tls={"client_cert": {"cert_file": "a", "key_file": "b", "pfx_file": "c"}}),
        "no sites": lambda d: d.update(sites=[]),
    }
    if base is not None:
        for name, change in mistakes.items():
            if validator.is_valid(mutated(change)):
                failures += 1
                print(f"schema accepts a config with: {name}")

    if failures:
        sys.exit(1)
    print(f"schema ok: {len(examples)} example(s) conform, {len(mistakes)} mistakes rejected")


if __name__ == "__main__":
    main()
