"""Check that a libvirt provider schema serves the installed pulumi_libvirt Python SDK.

Usage: python check_schema.py SCHEMA_JSON   (run by tools/pulumi/build with the .venv)

The SDK sends the engine resource tokens and camelCase property names; the provider
answers with its schema's. For every resource, function and nested input type of the
SDK, the token must exist in the schema, with the same property names, and a property
the SDK declares as a list must be an array in the schema (and the reverse): that is
where a Terraform `MaxItems: 1` flattened differently would break the program.
Exits 1 and lists every mismatch.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import typing
from pathlib import Path

import pulumi
import pulumi_libvirt
from pulumi import _types


def _is_list(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    # Input[Sequence[...]] / Output[Sequence[...]], possibly Optional.
    return "Sequence[" in text


def _sdk_classes() -> typing.Iterator[tuple[str, type]]:
    for module_name in (
        "cloud_init_disk",
        "combustion",
        "domain",
        "ignition",
        "network",
        "pool",
        "volume",
        "_inputs",
    ):
        module = importlib.import_module(f"pulumi_libvirt.{module_name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield name, cls


def _annotations(cls: type) -> dict[str, object]:
    """Python name -> annotation of each property getter (resource or input type)."""
    result = {}
    for name, member in inspect.getmembers(cls):
        if isinstance(member, property) and member.fget is not None:
            result[name] = member.fget.__annotations__.get("return", "")
    return result


def _compare(
    where: str,
    names: dict[str, str],
    annotations: dict[str, object],
    props: dict[str, dict],
    errors: list[str],
) -> None:
    sdk = {names[py]: annotations.get(py, "") for py in names}
    missing = sorted(set(sdk) - set(props))
    extra = sorted(set(props) - set(sdk))
    if missing:
        errors.append(f"{where}: not in the schema: {', '.join(missing)}")
    if extra:
        errors.append(f"{where}: not in the SDK: {', '.join(extra)}")
    for name in sorted(set(sdk) & set(props)):
        schema_list = props[name].get("type") == "array"
        if schema_list != _is_list(sdk[name]):
            errors.append(f"{where}.{name}: list in {'schema' if schema_list else 'SDK'} only")


def check(schema: dict) -> list[str]:
    errors: list[str] = []
    resources = schema.get("resources", {})
    types = schema.get("types", {})
    functions = schema.get("functions", {})
    seen_resources = 0
    for name, cls in _sdk_classes():
        if issubclass(cls, pulumi.CustomResource):
            token = f"libvirt:index/{name[0].lower()}{name[1:]}:{name}"
            seen_resources += 1
            if token not in resources:
                errors.append(f"resource {token}: not in the schema")
                continue
            spec = resources[token]
            outputs = _types.resource_py_to_pulumi_names(cls)
            _compare(token, outputs, _annotations(cls), spec.get("properties", {}), errors)
            args = getattr(sys.modules[cls.__module__], f"{name}Args")
            _compare(
                f"{token} (inputs)",
                _types.input_type_py_to_pulumi_names(args),
                _annotations(args),
                spec.get("inputProperties", {}),
                errors,
            )
        elif cls.__module__ == "pulumi_libvirt._inputs" and name.endswith("Args"):
            base = name[: -len("Args")]
            if base.startswith("Get"):  # a function's type: getNodeDeviceInfoCapability
                base = "g" + base[1:]
            token = f"libvirt:index/{base}:{base}"
            if token not in types:
                errors.append(f"type {token}: not in the schema")
                continue
            _compare(
                token,
                _types.input_type_py_to_pulumi_names(cls),
                _annotations(cls),
                types[token].get("properties", {}),
                errors,
            )
    sdk_functions = set()
    for attr in dir(pulumi_libvirt):
        if attr.startswith("get_") and not attr.endswith("_output"):
            camel = "".join(w.capitalize() for w in attr.split("_")[1:])
            sdk_functions.add(f"libvirt:index/get{camel}:get{camel}")
    for token in sorted(sdk_functions - set(functions)):
        errors.append(f"function {token}: not in the schema")
    if seen_resources == 0:
        errors.append("no resource class found in pulumi_libvirt")
    return errors


def main() -> int:
    schema = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    errors = check(schema)
    for error in errors:
        print(error)
    version = (
        getattr(pulumi_libvirt, "__version__", None)
        or json.loads((Path(pulumi_libvirt.__file__).parent / "pulumi-plugin.json").read_text())[
            "version"
        ]
    )
    print(
        f"schema vs pulumi_libvirt {version}: "
        f"{'OK' if not errors else f'{len(errors)} mismatch(es)'}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
