#!/usr/bin/python3
"""Validates YAML files against a JSON Schema with Debian's python3-jsonschema.

usage: validate_with_schema.py SCHEMA FILE...
Prints `FILE: ok` or `FILE: refused: REASON` (the best match) for each file;
exits 0 when every file is valid, 1 when one is refused, 2 on bad usage.

The files are read as she-restore reads them (workflows/plan.cpp
scalar_value): true/false, null/~/empty, decimal integers and reals are
typed; every other scalar, `yes`, `on` and dates included, is a string, as
in YAML 1.2 and in yaml-language-server. PyYAML's YAML 1.1 rules would read
`on:` (a retry key) as a boolean.
"""
import json
import re
import sys

import jsonschema
import yaml


class PlanLoader(yaml.SafeLoader):
    pass


PlanLoader.yaml_implicit_resolvers = {}
PlanLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|false|False)$"), list("tTfF"))
PlanLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|)$"), ["~", "n", ""])
PlanLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
PlanLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
                                 list("-+0123456789."))
# Leading zeros stay decimal, as std::stoll reads them (YAML 1.1 would say octal).
PlanLoader.add_constructor("tag:yaml.org,2002:int", lambda loader, node: int(loader.construct_scalar(node)))


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    refused = 0
    for path in argv[2:]:
        try:
            with open(path) as f:
                document = yaml.load(f, Loader=PlanLoader)
        except yaml.YAMLError as e:
            refused += 1
            print(f"{path}: refused: not YAML: {str(e).splitlines()[0]}")
            continue
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if error is None:
            print(f"{path}: ok")
        else:
            refused += 1
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            print(f"{path}: refused: at {where}: {error.message}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
