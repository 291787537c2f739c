"""Falco's schema check of a rules file: every item against the rules-file JSON schema.

Falco (0.38 and later) validates each file against a JSON schema before loading it and reports
the result (``ok`` or ``failed``) beside the load result: a schema failure is a warning, the file
still loads. Here each item is validated against the schema for its kind
(``builtin/rules-schema.json``, written for this package from the rules-file format), and each
violation becomes one ``schema`` warning at the key's line.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from ..findings import Location
from .diagnostics import Diagnostics
from .reader import Item

_KINDS = ("rule", "macro", "list", "required_engine_version", "required_plugin_versions")


@lru_cache(maxsize=1)
def _validators() -> dict[str, Any]:
    from jsonschema import Draft7Validator

    doc = json.loads(resources.files(__package__).joinpath("builtin", "rules-schema.json").read_text())
    # Falco's schema knows one item shape: a key of another kind (priority on a list) passes it,
    # and only draws the loader's LOAD_UNKNOWN_KEY
    known: dict[str, Any] = {}
    for kind in ("rule", "macro", "list"):
        known.update(doc["kinds"][kind]["properties"])
    out = {}
    for kind, schema in doc["kinds"].items():
        props = {**known, **schema["properties"]} if kind in ("rule", "macro", "list") else schema["properties"]
        out[kind] = Draft7Validator({**schema, "properties": props, "definitions": doc["definitions"]})
    return out


_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")


def _typed(item: Item) -> dict[str, Any]:
    """The item as its schema sees it: plain scalars typed as YAML types them (booleans, integers)."""
    out = dict(item.data)
    for key in item.plain_keys:
        value = out.get(key)
        if isinstance(value, str):
            if value in _BOOLS:
                out[key] = _BOOLS[value]
            elif _INT.fullmatch(value):
                out[key] = int(value)
    return out


def _shape(value: Any, keep: bool = False) -> Any:
    """What the schema can tell apart in ``value``: keys and types (and the values it constrains:
    override operations, negative integers). Items of one shape pass or fail together."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _shape(v, keep or k == "override")) for k, v in value.items()))
    if isinstance(value, list):
        if all(v.__class__ is str for v in value):  # tags, items: the usual lists
            return "[s]"
        return ("[]", frozenset(_shape(v) for v in value))
    if isinstance(value, str):
        return ("s", value) if keep else "s"
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i" if value >= 0 else "-i"
    return type(value).__name__


def _item_shape(item: Item) -> Any:
    """:func:`_shape` of the typed item, without building it."""
    out = []
    for k, v in item.data.items():
        if v.__class__ is str:
            if k in item.plain_keys and (v in _BOOLS or _INT.fullmatch(v)):
                out.append((k, _shape(_BOOLS[v] if v in _BOOLS else int(v))))
            else:
                out.append((k, "s"))
        else:
            out.append((k, _shape(v, k == "override")))
    return tuple(sorted(out))


def _where(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "item"


def check_items(items: list[Item], diags: Diagnostics) -> None:
    """One ``schema`` warning per violation, at the line of the top-level key concerned."""
    validators = _validators()
    valid_shapes: set[Any] = set()  # most items share a few shapes: validate each shape once
    for item in items:
        kind = next((k for k in _KINDS if k in item.data), None)
        if kind is None:
            continue
        shape = (kind, _item_shape(item))
        if shape in valid_shapes:
            continue
        typed = _typed(item)
        name = item.data.get(kind) if kind in ("rule", "macro", "list") else None
        errors = list(validators[kind].iter_errors(typed))
        if not errors:
            valid_shapes.add(shape)
        for err in errors:
            path = list(err.absolute_path)
            key = str(path[0]) if path else None
            if err.validator == "additionalProperties" and not path:
                extra = sorted(set(item.data) - set(validators[kind].schema["properties"]))
                key = extra[0] if extra else None
            line = item.line_of(key) if key else item.line
            diags.add("schema", f"schema: {_where(path)}: {err.message}",
                      name if isinstance(name, str) else None, Location(item.file, line),
                      kind if isinstance(name, str) else None)
