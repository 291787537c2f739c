"""Falco's schema check of a rules file: every item against the rules-file JSON schema.

Falco (0.38 and later) validates each file against a JSON schema before loading it and reports
the result (``ok`` or ``failed``) beside the load result: a schema failure is a warning, the file
still loads. Here each item is validated against the schema for its kind
(``builtin/rules-schema.json``, written for this package from the rules-file format), and each
violation becomes one ``schema`` warning at the key's line.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from importlib import resources
from collections.abc import Callable
from typing import Any, NamedTuple

from ..findings import Location
from ..fsutil import atomic_write, cache_dir
from .diagnostics import Diagnostics
from .reader import Item

_KINDS = ("rule", "macro", "list", "required_engine_version", "required_plugin_versions")


class _Schema(NamedTuple):
    validate: Callable[[Any], Any]  # raises fastjsonschema.JsonSchemaValueException
    properties: frozenset[str]


@lru_cache(maxsize=1)
def _schema_doc() -> tuple[dict[str, Any], str]:
    """The shipped schema and the digest of its text (what the valid-shapes record is kept for)."""
    text = resources.files(__package__).joinpath("builtin", "rules-schema.json").read_bytes()
    return json.loads(text), hashlib.sha256(text).hexdigest()[:16]


@lru_cache(maxsize=None)
def _validator(kind: str) -> _Schema:
    """The compiled schema of one item kind (compiled when an item of a new shape needs it)."""
    import fastjsonschema  # compiles each schema to a Python function: fast to import and to run

    doc = _schema_doc()[0]
    # Falco's schema knows one item shape: a key of another kind (priority on a list) passes it,
    # and only draws the loader's LOAD_UNKNOWN_KEY
    known: dict[str, Any] = {}
    for k in ("rule", "macro", "list"):
        known.update(doc["kinds"][k]["properties"])
    schema = doc["kinds"][kind]
    props = {**known, **schema["properties"]} if kind in ("rule", "macro", "list") else schema["properties"]
    full = {"$schema": doc["$schema"], **schema, "properties": props, "definitions": doc["definitions"]}
    return _Schema(fastjsonschema.compile(full), frozenset(props))


#: valid shapes remembered across runs at most (the record is data: digests of shapes, never code)
MAX_KNOWN_SHAPES = 20_000


def _known_path() -> Path:
    return cache_dir() / "schema" / f"valid-shapes-{_schema_doc()[1]}.json"


def _known_shapes() -> set[str]:
    """Digests of item shapes an earlier run found valid against this very schema: an item of such a
    shape needs no validator (compiling the schema takes longer than loading a rules file)."""
    path = _known_path()
    try:
        if path.stat().st_size > 64 * MAX_KNOWN_SHAPES:  # not what this module writes: ignore it
            return set()
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return set()
    return {d for d in doc if isinstance(d, str)} if isinstance(doc, list) else set()


def _remember(known: set[str], new: set[str]) -> None:
    if not new or len(known) >= MAX_KNOWN_SHAPES:
        return
    try:
        atomic_write(_known_path(), json.dumps(sorted(known | new)[:MAX_KNOWN_SHAPES]).encode())
    except OSError:  # a read-only cache: validate again next time
        pass


def _digest(shape: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(shape), separators=(",", ":")).encode()).hexdigest()[:24]


def _canonical(shape: Any) -> Any:
    """``shape`` in a form that is the same in every process (sets sorted: their order follows the
    process's string hashing)."""
    if isinstance(shape, tuple):
        return [_canonical(v) for v in shape]
    if isinstance(shape, frozenset):
        return ["{}", sorted((_canonical(v) for v in shape), key=lambda v: json.dumps(v))]
    return shape


_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")


def _as_int(text: str) -> int:
    """The integer ``text`` spells; one past the schema's interest (its sign kept) when it has thousands of
    digits, which Python refuses to convert (and no Falco value needs)."""
    if len(text) < 4000:
        return int(text)
    return -(10**18) if text.startswith("-") else 10**18


def _typed(item: Item) -> dict[str, Any]:
    """The item as its schema sees it: plain scalars typed as YAML types them (booleans, integers)."""
    out = dict(item.data)
    for key in item.plain_keys:
        value = out.get(key)
        if isinstance(value, str):
            if value in _BOOLS:
                out[key] = _BOOLS[value]
            elif _INT.fullmatch(value):
                out[key] = _as_int(value)
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
                out.append((k, _shape(_BOOLS[v] if v in _BOOLS else _as_int(v))))
            else:
                out.append((k, "s"))
        else:
            out.append((k, _shape(v, k == "override")))
    return tuple(sorted(out))


def check_items(items: list[Item], diags: Diagnostics, *, remember: bool = True) -> None:
    """One ``schema`` warning per item that breaks the schema (its first violation), at the line of
    the top-level key concerned. Shapes found valid are remembered in the cache (``remember``)."""
    valid_shapes: set[Any] = set()  # most items share a few shapes: validate each shape once
    known = _known_shapes() if remember else set()
    learned: set[str] = set()
    for item in items:
        kind = next((k for k in _KINDS if k in item.data), None)
        if kind is None:
            continue
        shape = (kind, _item_shape(item))
        if shape in valid_shapes:
            continue
        digest = _digest(shape) if remember else ""
        if digest in known:
            valid_shapes.add(shape)
            continue
        name = item.data.get(kind) if kind in ("rule", "macro", "list") else None
        problem = _violation(_validator(kind), _typed(item))
        if problem is None:
            valid_shapes.add(shape)
            learned.add(digest)
            continue
        key, message = problem
        diags.add("schema", f"schema: {message}", name if isinstance(name, str) else None,
                  Location(item.file, item.line_of(key) if key else item.line), kind if isinstance(name, str) else None)
    if remember:
        _remember(known, learned)


def _violation(schema: _Schema, data: dict[str, Any]) -> tuple[str | None, str] | None:
    """The first violation (top-level key concerned, message), or None when ``data`` is valid."""
    from fastjsonschema import JsonSchemaValueException

    try:
        schema.validate(data)
    except JsonSchemaValueException as exc:
        path = [str(p) for p in (exc.path or [])][1:]  # the first element is "data"
        where = ".".join(path)
        if exc.rule == "additionalProperties":
            allowed = schema.properties if not path else set((exc.definition or {}).get("properties", {}))
            extra = sorted(set(exc.value or {}) - set(allowed)) if isinstance(exc.value, dict) else []
            what = f"unexpected key '{extra[0]}'" if extra else "unexpected key"
            key = path[0] if path else (extra[0] if extra else None)
            return key, f"{where}: {what}" if where else what
        return (path[0] if path else None), f"{where or 'item'}: {exc.message.split(' ', 1)[-1]}"
    return None
