"""What the values of a rules-file item mean to Falco: keys, booleans, priorities, versions, exceptions.

Every function here either returns the value as Falco reads it or raises :class:`Invalid` with
Falco's code, a message and the line at fault; the collector turns that into a diagnostic and
skips the item, as Falco does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .condition import CMP_OPS, LIST_OPS, STR_OPS
from .reader import Item


class Invalid(Exception):
    """An item Falco would reject: code, message and the line at fault."""

    def __init__(self, code: str, message: str, line: int) -> None:
        super().__init__(message)
        self.code, self.message, self.line = code, message, line


PRIORITIES = ["Debug", "Informational", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]
_PRIORITY_BY_NAME = {p.lower(): p for p in PRIORITIES} | {"info": "Informational"}
_TRUE = {"true", "yes", "y", "on"}
_FALSE = {"false", "no", "n", "off"}
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: what Falco accepts as a list name without a warning (a bare string of a condition)
LIST_NAME_RE = re.compile(r"[^()\"'\s=,]+")
KINDS = ("required_engine_version", "required_plugin_versions", "list", "macro", "rule")
RULE_DEFAULTS: dict[str, Any] = {
    "source": "syscall", "enabled": True, "tags": [], "exceptions": [], "warn_evttypes": True,
    "skip-if-unknown-filter": False, "capture": False, "capture_duration": 0,
}
KNOWN_KEYS = {
    "list": {"list", "items", "append", "override"},
    "macro": {"macro", "condition", "append", "override"},
    "rule": {"rule", "condition", "output", "desc", "priority", "append", "override", *RULE_DEFAULTS},
}
APPENDABLE = {"list": {"items"}, "macro": {"condition"}, "rule": {"condition", "output", "desc", "tags", "exceptions"}}
REPLACEABLE = {
    "list": {"items"}, "macro": {"condition"},
    "rule": {"condition", "output", "desc", "priority", "tags", "exceptions", "enabled", "warn_evttypes",
             "skip-if-unknown-filter", "capture", "capture_duration"},
}
VERSIONED_RULE_KEYS = {"warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"}
BOOL_KEYS = {"enabled", "warn_evttypes", "skip-if-unknown-filter", "capture", "append"}
LIST_COMPS = {"in", "intersects", "pmatch"}
VALID_COMPS = CMP_OPS | STR_OPS | LIST_OPS
#: operators that take a modifier (``startswith oneof``): a list of values, one comparison each
MODIFIABLE = frozenset({"=", "!=", *STR_OPS})
MODIFIERS = frozenset({"oneof", "anyof", "allof"})


def normalise_comp(comp: Any) -> Any:
    """``"  startswith   oneof "`` -> ``"startswith oneof"`` (Falco normalises the blanks)."""
    return " ".join(comp.split()) if isinstance(comp, str) else comp


def valid_comp(comp: Any) -> bool:
    """A plain operator, or a string/equality operator with a oneof/anyof/allof modifier."""
    if not isinstance(comp, str):
        return False
    if comp in VALID_COMPS:
        return True
    parts = comp.split(" ")
    return len(parts) == 2 and parts[0] in MODIFIABLE and parts[1] in MODIFIERS


def to_bool(value: Any, key: str, line: int) -> bool:
    """Falco's booleans: y/n, yes/no, true/false, on/off, in lower, UPPER or Capitalized case."""
    text = "" if value is None else str(value)
    low = text.lower()
    if text in (low, text.upper(), text.capitalize()):
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Can't decode YAML boolean value '{text}' of key '{key}'", line)


def canonical_priority(value: Any) -> str | None:
    """``info``/``INFO``/``Informational`` -> ``Informational``; ``None`` when not a Falco priority."""
    return _PRIORITY_BY_NAME.get(str(value).strip().lower()) if isinstance(value, str) else None


def engine_version(value: Any) -> str | None:
    """``26`` -> ``0.26.0``; ``"0.31.0"`` -> ``0.31.0``; ``None`` when neither form."""
    text = str(value).strip() if value is not None else ""
    if text.isdigit() and len(text) <= 18:
        return f"0.{int(text)}.0"
    return text if _SEMVER.fullmatch(text) else None


def _check_exception_shape(name: str, fields_: Any, comps: Any, values: list[Any], line: int) -> None:
    """Fields, comps and values agree: lists of one length, or one field with a list comparison."""
    if isinstance(fields_, list):
        if comps is not None and not isinstance(comps, list):
            raise Invalid("LOAD_ERR_YAML_VALIDATE",
                          f"Rule exception item '{name}': fields is a list so comps must be a list", line)
        if comps is not None and len(comps) != len(fields_):
            raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Fields and comps lists must have "
                          "equal length", line)
        for tup in values:
            if not isinstance(tup, list) or len(tup) != len(fields_):
                raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Fields and values lists must "
                              "have equal length", line)
    elif fields_ is not None:
        if comps is not None and comps not in LIST_COMPS:
            raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': when fields is a single value, "
                          "comps must be one of (in, pmatch, intersects)", line)
        if any(isinstance(v, list) for v in values):
            raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Expected values array to contain "
                          "a list of strings", line)


def validate_exception(exc: Any, line: int, need_fields: bool) -> dict[str, Any]:
    """One exception entry, checked as Falco checks it (``need_fields``: not an append to a named one)."""
    if not isinstance(exc, dict):
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Rule exception must be a mapping", line)
    name = exc.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Rule exception item must have a 'name' property", line)
    fields_ = exc.get("fields")
    if fields_ is None and need_fields:
        raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Rule exception item '{name}': Item has no mapping for key 'fields'",
                      line)
    comps = exc.get("comps")
    comps = [normalise_comp(c) for c in comps] if isinstance(comps, list) else normalise_comp(comps)
    values = exc.get("values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Rule exception item '{name}': 'values' must be a list", line)
    _check_exception_shape(name, fields_, comps, values, line)
    for c in comps if isinstance(comps, list) else ([comps] if comps is not None else []):
        if not valid_comp(c):
            raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': '{c}' is not a supported "
                           "comparison operator", line)
    return {"name": name, "fields": fields_, "comps": comps, "values": values}



def _items(value: Any, line: int, append: bool) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, (list, dict)) for v in value):
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "List 'items' must be a sequence of scalars", line)
    return ["" if v is None else v for v in value]


def _text_of(key: str) -> Callable[[Any, int, bool], str]:
    def text(value: Any, line: int, append: bool) -> str:
        if not isinstance(value, str) or (key == "condition" and not value.strip()):
            raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Value of '{key}' must be a non-empty string", line)
        return value
    return text


def _priority(value: Any, line: int, append: bool) -> str:
    p = canonical_priority(value)
    if p is None:
        raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Invalid priority '{value}'", line)
    return p


def _tags(value: Any, line: int, append: bool) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'tags' must be a sequence of strings", line)
    return list(value)


def _exceptions(value: Any, line: int, append: bool) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'exceptions' must be a sequence", line)
    return [validate_exception(e, line, need_fields=not append) for e in value]


def _source(value: Any, line: int, append: bool) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'source' must be a string", line)
    return value


def _capture_duration(value: Any, line: int, append: bool) -> int:
    if not str(value).strip().isdigit():
        raise Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'capture_duration' must be an integer", line)
    return int(str(value).strip())


#: key -> how Falco reads its value (value, line, whether it is appended); other keys are kept as written
_DECODERS: dict[str, Callable[[Any, int, bool], Any]] = {
    "items": _items, "condition": _text_of("condition"), "output": _text_of("output"), "desc": _text_of("desc"),
    "priority": _priority, "tags": _tags, "exceptions": _exceptions, "source": _source,
    "capture_duration": _capture_duration,
}


def decode(kind: str, key: str, value: Any, item: Item, append: bool = False) -> Any:
    """The value of ``key`` as Falco reads it; :class:`Invalid` when Falco would reject it."""
    reader = _DECODERS.get(key)
    return reader(value, item.line_of(key), append) if reader is not None else value
