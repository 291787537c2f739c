"""Load Falco rules files exactly as Falco resolves them (``../shared/docs/falco-rules-loading.md``).

``load_rules(*paths)`` reads the files in order into one collection (redefinition, enabled-only
items, legacy ``append``, ``override``), compiles after each file as Falco does (lists expanded and
substituted, exceptions added, macro visibility and loops checked), and returns a :class:`RuleSet`
of DataFrames. Diagnostics use Falco's own code names. Column meanings: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import condition as cond_lang
from .columns import columns
from .errors import RulesError
from .rules_yaml import MAX_BYTES, Item, read_items
from .tags import split_tags

PRIORITIES = ["Debug", "Informational", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]
_PRIORITY_BY_NAME = {p.lower(): p for p in PRIORITIES} | {"info": "Informational"}
_TRUE = {"true", "yes", "y", "on"}
_FALSE = {"false", "no", "n", "off"}
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KINDS = ("required_engine_version", "required_plugin_versions", "list", "macro", "rule")
RULE_DEFAULTS: dict[str, Any] = {
    "source": "syscall", "enabled": True, "tags": [], "exceptions": [], "warn_evttypes": True,
    "skip-if-unknown-filter": False, "capture": False, "capture_duration": "0",
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
_VERSIONED_RULE_KEYS = {"warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"}
_BOOL_KEYS = {"enabled", "warn_evttypes", "skip-if-unknown-filter", "capture", "append"}
LIST_COMPS = {"in", "intersects", "pmatch"}
VALID_COMPS = cond_lang.CMP_OPS | cond_lang.STR_OPS | cond_lang.LIST_OPS

# Falco's own messages (rule_loader_collector.cpp / rule_loader_reader.cpp)
MESSAGES = {
    "ERROR_NO_PREVIOUS_MACRO": "Macro has 'append' key or an append override but no previous macro with the same name",
    "ERROR_NO_PREVIOUS_LIST": "List has 'append' key or an append override but no previous list with the same name",
    "ERROR_NO_PREVIOUS_RULE_APPEND": "Rule has 'append' key or an append override but no previous rule with the same name",
    "ERROR_NO_PREVIOUS_RULE_REPLACE": "Rule has a replace override but no previous rule with the same name",
    "ERROR_NO_PREVIOUS_RULE_ENABLE": "Rule has 'enabled' key but no previous rule with the same name",
    "ERROR_OVERRIDE_APPEND": "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry "
                             "(e.g. 'condition: append') under 'override' instead.",
    "WARNING_APPEND": "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under "
                      "'override' instead.",
    "WARNING_ENABLED": "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
                       "'replace' entry under the 'override' key (i.e. 'enabled: replace').",
}


class _Invalid(Exception):
    """An item Falco would reject: code, message and the line at fault."""

    def __init__(self, code: str, message: str, line: int) -> None:
        self.code, self.message, self.line = code, message, line


@dataclass
class _Def:
    """One resolved list, macro or rule, with where it came from."""

    kind: str
    name: str
    file: str
    line: int
    index: int
    visibility: int
    fields: dict[str, Any]
    touched: list[str] = field(default_factory=list)


@dataclass
class RuleSet:
    """Resolved rules, macros and lists of several files, and the diagnostics of loading them."""

    rules: pd.DataFrame
    macros: pd.DataFrame
    lists: pd.DataFrame
    diagnostics: pd.DataFrame
    files: pd.DataFrame
    required_engine_version: str | None = None
    required_plugin_versions: list[dict[str, Any]] = field(default_factory=list)
    #: ("rule"|"macro", name) -> the pieces its condition was assembled from: (file, line, text)
    condition_sources: dict[tuple[str, str], list[tuple[str, int, str]]] = field(default_factory=dict, repr=False)

    @property
    def has_errors(self) -> bool:
        return bool((self.diagnostics["severity"] == "error").any())

    @property
    def unreadable(self) -> list[str]:
        """Files that could not be read as rules files at all (missing, not YAML, not a list)."""
        return list(self.files.loc[~self.files["loaded"], "file"])

    @property
    def errors(self) -> pd.DataFrame:
        return self.diagnostics[self.diagnostics["severity"] == "error"].reset_index(drop=True)

    def rule(self, name: str) -> pd.Series:
        hit = self.rules[self.rules["name"] == name]
        if hit.empty:
            raise KeyError(f"no rule named {name!r}")
        return hit.iloc[0]


def _bool(value: Any, key: str, line: int) -> bool:
    """Falco's booleans: y/n, yes/no, true/false, on/off, in lower, UPPER or Capitalized case."""
    text = "" if value is None else str(value)
    low = text.lower()
    if text in (low, text.upper(), text.capitalize()):
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Can't decode YAML boolean value '{text}' of key '{key}'", line)


def canonical_priority(value: Any) -> str | None:
    """``info``/``INFO``/``Informational`` -> ``Informational``; ``None`` when not a Falco priority."""
    return _PRIORITY_BY_NAME.get(str(value).strip().lower()) if isinstance(value, str) else None


def engine_version(value: Any) -> str | None:
    """``26`` -> ``0.26.0``; ``"0.31.0"`` -> ``0.31.0``; ``None`` when neither form."""
    text = str(value).strip() if value is not None else ""
    if text.isdigit():
        return f"0.{int(text)}.0"
    return text if _SEMVER.fullmatch(text) else None


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def quote_item(value: str) -> str:
    """Falco's quoting of a list item substituted into a condition."""
    if " " in value and value[:1] not in ("'", '"'):
        return f'"{value}"'
    return value


_BLANKS = " \t\n\r"
_DELIMS = _BLANKS + "(),="
_WORDS = re.compile(r"[^\s(),=]+")


def _substitute_one(cond: str, name: str, items: list[str]) -> tuple[str, bool]:
    sub = ", ".join(quote_item(v) for v in items)
    out: list[str] = []
    pos = 0
    hit = False
    i = cond.find(name)
    while i != -1:
        end = i + len(name)
        if (i == 0 or cond[i - 1] in _DELIMS) and (end >= len(cond) or cond[end] in _DELIMS):
            s, e = i, end
            while s > pos and cond[s - 1] in _BLANKS:
                s -= 1
            while e < len(cond) and cond[e] in _BLANKS:
                e += 1
            left = " " if s < i else ""
            right = " " if e > end and e < len(cond) else ""
            if not sub:
                left = right = ""
                if s > pos and cond[s - 1] == ",":
                    s -= 1
                elif e < len(cond) and cond[e] == ",":
                    e += 1
                    while e < len(cond) and cond[e] in _BLANKS:
                        e += 1
            out.append(cond[pos:s] + left + sub + right)
            pos = e
            hit = True
            i = cond.find(name, e)
        else:
            i = cond.find(name, i + 1)
    out.append(cond[pos:])
    return "".join(out), hit


def substitute_lists(cond: str, lists: dict[str, tuple[int, list[str]]]) -> tuple[str, set[str]]:
    """Substitute list names in ``cond`` as Falco does (text, lists in definition order).

    ``lists`` maps name -> (definition order, items). Returns the new text and the lists used.
    """
    pending = sorted((lists[w][0], w) for w in set(_WORDS.findall(cond)) if w in lists)
    used: set[str] = set()
    done: set[str] = set()
    while pending:
        order, name = pending.pop(0)
        if name in done:
            continue
        done.add(name)
        cond, hit = _substitute_one(cond, name, lists[name][1])
        if hit:
            used.add(name)
            later = {w for v in lists[name][1] for w in _WORDS.findall(v)
                     if w in lists and w not in done and lists[w][0] > order}
            if later:
                pending = sorted(set(pending) | {(lists[w][0], w) for w in later})
    return cond, used


def exception_condition(exc: dict[str, Any]) -> str:
    """The ``E`` of spec section 5 for one exception ('' when it has no values)."""
    fields_, comps, values = exc.get("fields"), exc.get("comps"), exc.get("values") or []
    if isinstance(fields_, list):
        comps = comps if isinstance(comps, list) else ["="] * len(fields_)
        alts = []
        for tup in values:
            parts = []
            for f, c, v in zip(fields_, comps, tup):
                if isinstance(v, list):
                    val = "(" + ", ".join(quote_item(str(x)) for x in v) + ")"
                elif c in LIST_COMPS and not str(v).startswith("("):
                    val = f"({v})"
                else:
                    val = quote_item(str(v))
                parts.append(f"{f} {c} {val}")
            alts.append("(" + " and ".join(parts) + ")")
        return "(" + " or ".join(alts) + ")" if alts else ""
    if not values:
        return ""
    comp = comps if isinstance(comps, str) else "in"
    flat = [quote_item(str(v)) for v in values]
    return f"({fields_} {comp} ({', '.join(flat)}))"


def _validate_exception(exc: Any, line: int, need_fields: bool) -> dict[str, Any]:
    if not isinstance(exc, dict):
        raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Rule exception must be a mapping", line)
    name = exc.get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Rule exception item must have a 'name' property", line)
    fields_ = exc.get("fields")
    if fields_ is None and need_fields:
        raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                       f"Rule exception item '{name}': must have 'fields' property with a list of fields", line)
    comps = exc.get("comps")
    values = exc.get("values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Rule exception item '{name}': 'values' must be a list", line)
    if isinstance(fields_, list):
        if comps is not None and not isinstance(comps, list):
            raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                           f"Rule exception item '{name}': fields is a list so comps must be a list", line)
        if comps is not None and len(comps) != len(fields_):
            raise _Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Fields and comps lists must have "
                           "equal length", line)
        for tup in values:
            if not isinstance(tup, list) or len(tup) != len(fields_):
                raise _Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Fields and values lists must "
                               "have equal length", line)
    elif fields_ is not None:
        if comps is not None and comps not in LIST_COMPS:
            raise _Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': when fields is a single value, "
                           "comps must be one of (in, pmatch, intersects)", line)
        if any(isinstance(v, list) for v in values):
            raise _Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': Expected values array to contain "
                           "a list of strings", line)
    for c in comps if isinstance(comps, list) else ([comps] if comps is not None else []):
        if c not in VALID_COMPS:
            raise _Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{name}': '{c}' is not a supported "
                           "comparison operator", line)
    return {"name": name, "fields": fields_, "comps": comps, "values": values}


def _tag_sources(item: Item, file: str, tags: list[str]) -> dict[str, str]:
    """tag -> 'file:line' for the tags written in ``item`` (first occurrence wins)."""
    out: dict[str, str] = {}
    for i, tag in enumerate(tags):
        line = item.tag_spans[i].line if i < len(item.tag_spans) else item.line_of("tags")
        out.setdefault(tag, f"{file}:{line}")
    return out


class _Loader:
    """Falco's rule collector and compiler, reproduced over DataFrames-to-be."""

    def __init__(self, strict: bool, max_bytes: int) -> None:
        self.strict = strict
        self.max_bytes = max_bytes
        self.defs: dict[str, dict[str, _Def]] = {"list": {}, "macro": {}, "rule": {}}
        self.counter = 0
        self.diags: list[tuple[str, str, str, str | None, str, int]] = []
        self.seen_diags: set[tuple] = set()
        self.invalid_rules: set[str] = set()
        self.invalid_macros: set[str] = set()
        self.engine_version: str | None = None
        self.plugin_versions: list[dict[str, Any]] = []
        self.file_rows: list[dict[str, Any]] = []
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()
        self.compiled: dict[str, str] = {}
        self.macro_conditions: dict[str, str] = {}
        self.macro_ast: dict[str, Any] = {}
        self.rule_ast: dict[str, Any] = {}
        self.macro_lists: dict[str, set[str]] = {}
        self.rule_lists: dict[str, set[str]] = {}

    # --- diagnostics ------------------------------------------------------------------------
    def diag(self, severity: str, code: str, message: str, item: str | None, file: str, line: int) -> None:
        key = (severity, code, message, item, file, line)
        if key in self.seen_diags:
            return
        self.seen_diags.add(key)
        self.diags.append(key)
        if self.strict and severity == "error":
            raise RulesError(f"{code}: {message}" + (f" ({item})" if item else ""), file=file, line=line or None)

    # --- reading ----------------------------------------------------------------------------
    def load_file(self, path: Path) -> None:
        file = str(path)
        items, problems = read_items(path, self.max_bytes)
        for p in problems:
            self.diag(p.severity, p.code, p.message, p.item, file, p.line)
        constructs: set[str] = set()
        counts = {"rule": 0, "macro": 0, "list": 0}
        for item in items:
            kind = next((k for k in KINDS if k in item.data), None)
            if kind is None:
                self.diag("warning", "LOAD_UNKNOWN_ITEM", "Unknown top level object", None, file, item.line)
                continue
            name = item.data.get(kind) if kind in counts else None
            try:
                self._item(kind, item, file, constructs)
                if kind in counts:
                    counts[kind] += 1
            except _Invalid as exc:
                self.diag("error", exc.code, exc.message, name if isinstance(name, str) else None, file, exc.line)
        self.file_rows.append({
            "file": file, "loaded": not (any(p.fatal for p in problems) and not items),
            "n_rules": counts["rule"], "n_macros": counts["macro"], "n_lists": counts["list"],
            "constructs": sorted(constructs),
        })
        self.compile(file)

    def _item(self, kind: str, item: Item, file: str, constructs: set[str]) -> None:
        d = item.data
        if kind == "required_engine_version":
            v = engine_version(d[kind])
            if v is None:
                raise _Invalid("LOAD_ERR_VALIDATE",
                               f"Unable to parse engine version '{d[kind]}' as a semantic version string", item.line)
            constructs.add("required_engine_version: integer" if str(d[kind]).strip().isdigit()
                           else "required_engine_version: semver")
            if self.engine_version is None or _vtuple(v) > _vtuple(self.engine_version):
                self.engine_version = v
            return
        if kind == "required_plugin_versions":
            self._plugin_versions(d[kind], item, file, constructs)
            return
        name = d[kind]
        if not isinstance(name, str) or not name.strip():
            raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Mapping for key '{kind}' is empty", item.line)
        for key in d:
            if key not in KNOWN_KEYS[kind]:
                self.diag("warning", "LOAD_UNKNOWN_KEY", f"Unknown key '{key}'. The key will be ignored.",
                          name, file, item.line_of(key))
        if kind in ("list", "macro") and not _NAME_RE.fullmatch(name):
            self.diag("warning", f"LOAD_INVALID_{kind.upper()}_NAME",
                      f"{kind.capitalize()} name '{name}' contains invalid characters", name, file, item.line)
        for key in _BOOL_KEYS & d.keys():
            d[key] = _bool(d[key], key, item.line_of(key))
        constructs.update(f"rule key '{k}'" for k in _VERSIONED_RULE_KEYS & d.keys() if kind == "rule")
        append = d.get("append", False)
        override = d.get("override")
        if override is not None and append:
            raise _Invalid("ERROR_OVERRIDE_APPEND", MESSAGES["ERROR_OVERRIDE_APPEND"], item.line)
        if override is not None:
            constructs.add("override")
            self._override(kind, name, item, file)
        elif append:
            constructs.add("append: true (deprecated)")
            self.diag("warning", "WARNING_APPEND", MESSAGES["WARNING_APPEND"], name, file, item.line)
            self._legacy_append(kind, name, item, file)
        elif kind == "rule" and not {"condition", "output", "desc", "priority"} & d.keys():
            constructs.add("enabled-only rule item (deprecated)")
            self._enable_only(name, item, file)
        else:
            self._define(kind, name, item, file, constructs)

    def _plugin_versions(self, value: Any, item: Item, file: str, constructs: set[str]) -> None:
        if not isinstance(value, list):
            raise _Invalid("LOAD_ERR_YAML_VALIDATE", "required_plugin_versions must be a list", item.line)
        constructs.add("required_plugin_versions")
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                    or not isinstance(entry.get("version"), str):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                               "each required_plugin_versions entry needs a 'name' and a 'version'", item.line)
            alts = entry.get("alternatives") or []
            if not isinstance(alts, list) or not all(
                    isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("version"), str)
                    for a in alts):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                               "required_plugin_versions alternatives need a 'name' and a 'version'", item.line)
            if alts:
                constructs.add("required_plugin_versions alternatives")
            self.plugin_versions.append({
                "name": entry["name"], "version": entry["version"],
                "alternatives": [{"name": a["name"], "version": a["version"]} for a in alts],
                "file": file, "line": item.line,
            })

    # --- field decoding -----------------------------------------------------------------------
    def _decode(self, kind: str, key: str, value: Any, item: Item, append: bool = False) -> Any:
        line = item.line_of(key)
        if key == "items":
            if value is None:
                return []
            if not isinstance(value, list) or any(isinstance(v, (list, dict)) for v in value):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "List 'items' must be a sequence of scalars", line)
            return ["" if v is None else v for v in value]
        if key in ("condition", "output", "desc"):
            if not isinstance(value, str) or (key == "condition" and not value.strip()):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Value of '{key}' must be a non-empty string", line)
            return value
        if key == "priority":
            p = canonical_priority(value)
            if p is None:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Invalid priority '{value}'", line)
            return p
        if key == "tags":
            if value is None:
                return []
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'tags' must be a sequence of strings", line)
            return list(value)
        if key == "exceptions":
            if value is None:
                return []
            if not isinstance(value, list):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'exceptions' must be a sequence", line)
            return [_validate_exception(e, line, need_fields=not append) for e in value]
        if key == "source":
            if not isinstance(value, str) or not value:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'source' must be a string", line)
            return value
        if key == "capture_duration":
            if not str(value).isdigit():
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'capture_duration' must be an integer", line)
            return str(value)
        return value

    # --- the four ways an item acts -------------------------------------------------------------
    def _bump(self) -> int:
        self.counter += 1
        return self.counter

    def _where(self, file: str, item: Item) -> str:
        return f"{file}:{item.line}"

    def _define(self, kind: str, name: str, item: Item, file: str, constructs: set[str]) -> None:
        d = item.data
        if kind == "list":
            if "items" not in d:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'items'", item.line)
            fields_ = {"items": self._decode(kind, "items", d["items"], item)}
        elif kind == "macro":
            if "condition" not in d:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'condition'", item.line)
            fields_ = {"condition": self._decode(kind, "condition", d["condition"], item),
                       "condition_line": item.line_of("condition")}
            fields_["condition_parts"] = [(file, fields_["condition_line"], fields_["condition"])]
        else:
            for key in ("condition", "output", "desc", "priority"):
                if key not in d:
                    raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Item has no mapping for key '{key}'", item.line)
            fields_ = {k: self._decode(kind, k, d[k], item) for k in
                       ("condition", "output", "desc", "priority")}
            for key, default in RULE_DEFAULTS.items():
                fields_[key] = self._decode(kind, key, d[key], item) if key in d else (
                    list(default) if isinstance(default, list) else default)
            fields_["condition_line"] = item.line_of("condition")
            fields_["condition_parts"] = [(file, fields_["condition_line"], fields_["condition"])]
            fields_["tag_sources"] = _tag_sources(item, file, fields_["tags"])
            if fields_["exceptions"]:
                constructs.add("exceptions")
            names = [e["name"] for e in fields_["exceptions"]]
            for dup in sorted({n for n in names if names.count(n) > 1}):
                self.diag("warning", "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
                          f"Multiple definitions of exception '{dup}' in the same rule", name, file,
                          item.line_of("exceptions"))
        prev = self.defs[kind].get(name)
        if kind == "rule" and prev is not None and prev.fields["source"] != fields_["source"]:
            raise _Invalid("LOAD_ERR_VALIDATE", "Rule has been re-defined with a different source", item.line)
        vis = self._bump()
        where = self._where(file, item)
        if prev is None:
            new = _Def(kind, name, file, item.line, vis, vis, fields_, [where])
        else:  # full redefinition: replaces everything, keeps the position
            new = _Def(kind, name, prev.file, prev.line, prev.index, vis, fields_, prev.touched + [where])
            if kind == "rule":
                self.invalid_rules.discard(name)
        self.defs[kind][name] = new

    def _enable_only(self, name: str, item: Item, file: str) -> None:
        if "enabled" not in item.data:
            raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'enabled'", item.line)
        self.diag("warning", "WARNING_ENABLED", MESSAGES["WARNING_ENABLED"], name, file, item.line)
        prev = self.defs["rule"].get(name)
        if prev is None:
            raise _Invalid("ERROR_NO_PREVIOUS_RULE_ENABLE", MESSAGES["ERROR_NO_PREVIOUS_RULE_ENABLE"], item.line)
        prev.fields["enabled"] = item.data["enabled"]
        prev.visibility = self._bump()
        prev.touched.append(self._where(file, item))

    def _legacy_append(self, kind: str, name: str, item: Item, file: str) -> None:
        d = item.data
        prev = self.defs[kind].get(name)
        code = {"list": "ERROR_NO_PREVIOUS_LIST", "macro": "ERROR_NO_PREVIOUS_MACRO",
                "rule": "ERROR_NO_PREVIOUS_RULE_APPEND"}[kind]
        if kind == "list":
            new_items = self._decode(kind, "items", d.get("items"), item)
            if prev is None:
                raise _Invalid(code, MESSAGES[code], item.line)
            prev.fields["items"] = prev.fields["items"] + new_items
        elif kind == "macro":
            if "condition" not in d:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'condition'", item.line)
            text = self._decode(kind, "condition", d["condition"], item)
            if prev is None:
                raise _Invalid(code, MESSAGES[code], item.line)
            prev.fields["condition"] = prev.fields["condition"] + " " + text
            prev.fields["condition_parts"] = prev.fields["condition_parts"] + [
                (file, item.line_of("condition"), " " + text)]
        else:  # rules take only condition and exceptions; every other key is ignored
            if "condition" not in d and "exceptions" not in d:
                raise _Invalid("LOAD_ERR_VALIDATE", "Appended rule must have exceptions or condition property",
                               item.line)
            text = self._decode(kind, "condition", d["condition"], item) if "condition" in d else None
            excs = self._decode(kind, "exceptions", d["exceptions"], item, append=True) if "exceptions" in d else []
            if prev is None:
                raise _Invalid(code, MESSAGES[code], item.line)
            new_excs = self._merge_exceptions(prev, excs, item, file)
            if text is not None:
                prev.fields["condition"] = prev.fields["condition"] + " " + text
                prev.fields["condition_parts"] = prev.fields["condition_parts"] + [
                    (file, item.line_of("condition"), " " + text)]
            prev.fields["exceptions"] = new_excs
        prev.visibility = self._bump()
        prev.touched.append(self._where(file, item))

    def _merge_exceptions(self, prev: _Def, excs: list[dict], item: Item, file: str) -> list[dict]:
        merged = [dict(e) for e in prev.fields["exceptions"]]
        by_name = {e["name"]: e for e in merged}
        for exc in excs:
            if exc["name"] in by_name:
                target = by_name[exc["name"]]
                target["values"] = list(target["values"]) + list(exc["values"])
                _validate_exception(target, item.line_of("exceptions"), need_fields=True)
            else:
                if exc["fields"] is None:
                    raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                                   f"Rule exception item '{exc['name']}': must have 'fields' property with a list "
                                   "of fields", item.line_of("exceptions"))
                merged.append(exc)
                by_name[exc["name"]] = exc
        return merged

    def _override(self, kind: str, name: str, item: Item, file: str) -> None:
        d = item.data
        ov = d["override"]
        if not isinstance(ov, dict) or not ov:
            raise _Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'override' must be a mapping of key: append|replace",
                           item.line_of("override"))
        ov_line = item.line_of("override")
        for key, op in ov.items():
            if op not in ("append", "replace"):
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Invalid override operation for key '{key}': '{op}'. "
                               "Allowed values are: append, replace", ov_line)
            if op == "append" and key not in APPENDABLE[kind]:
                hint = ", use 'replace' instead" if key in REPLACEABLE[kind] else ""
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Key '{key}' cannot be appended to{hint}", ov_line)
            if op == "replace" and key not in REPLACEABLE[kind]:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE", f"Key '{key}' cannot be replaced", ov_line)
            if key not in d:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                               f"An {op} override for '{key}' was specified but '{key}' is not defined", ov_line)
        for key in d:
            if key in (APPENDABLE[kind] | REPLACEABLE[kind]) and key not in ov:
                raise _Invalid("LOAD_ERR_YAML_VALIDATE",
                               f"Unexpected key '{key}': an 'override' entry must be specified for it", item.line_of(key))
        appends = [k for k, op in ov.items() if op == "append"]
        replaces = [k for k, op in ov.items() if op == "replace"]
        values = {k: self._decode(kind, k, d[k], item, append=(ov[k] == "append")) for k in ov}
        prev = self.defs[kind].get(name)
        if kind in ("list", "macro") and not appends:  # replace-only: a plain redefinition
            self._define(kind, name, item, file, set())
            return
        if prev is None:
            if appends:
                code = {"list": "ERROR_NO_PREVIOUS_LIST", "macro": "ERROR_NO_PREVIOUS_MACRO",
                        "rule": "ERROR_NO_PREVIOUS_RULE_APPEND"}[kind]
            else:
                code = "ERROR_NO_PREVIOUS_RULE_REPLACE"
            raise _Invalid(code, MESSAGES[code], item.line)
        if kind == "rule" and "source" in d and self._decode(kind, "source", d["source"], item) != prev.fields["source"]:
            raise _Invalid("LOAD_ERR_VALIDATE", "Rule has been re-defined with a different source", item.line)
        f = dict(prev.fields)
        for key in appends:  # appends first, then replaces
            if key == "items":
                f["items"] = f["items"] + values[key]
            elif key in ("condition", "output", "desc"):
                f[key] = f[key] + " " + values[key]
                if key == "condition":
                    f["condition_parts"] = f["condition_parts"] + [(file, item.line_of("condition"), " " + values[key])]
            elif key == "tags":
                f["tags"] = f["tags"] + [t for t in values[key] if t not in f["tags"]]
                f["tag_sources"] = {**_tag_sources(item, file, values[key]), **f["tag_sources"]}
            elif key == "exceptions":
                f["exceptions"] = self._merge_exceptions(prev, values[key], item, file)
        for key in replaces:
            f[key] = values[key]
            if key == "tags":
                f["tag_sources"] = _tag_sources(item, file, values[key])
            if key == "condition":
                f["condition_line"] = item.line_of("condition")
                f["condition_parts"] = [(file, f["condition_line"], values[key])]
        prev.fields = f
        prev.visibility = self._bump()
        prev.touched.append(self._where(file, item))

    # --- compiling (after each file, as Falco does) ------------------------------------------------
    def compile(self, file: str) -> None:
        lists = self.defs["list"]
        expanded: dict[str, tuple[int, list[str]]] = {}
        used_lists: set[str] = set()
        for lst in lists.values():
            out: list[str] = []
            for it in lst.fields["items"]:
                ref = lists.get(it)
                if ref is not None and ref.index < lst.visibility and ref is not lst:
                    out.extend(ref.fields["items"])  # one level, raw items
                    used_lists.add(it)
                else:
                    out.append(it)
            expanded[lst.name] = (lst.index, out)
        self.expanded_lists = expanded

        macros = self.defs["macro"]
        refs: dict[str, list[tuple[str, int]]] = {}
        bad_macros: set[str] = set()
        for m in macros.values():
            text, used = substitute_lists(m.fields["condition"], expanded)
            used_lists |= used
            self.macro_conditions[m.name] = text
            self.macro_lists[m.name] = used
            try:
                self.macro_ast[m.name] = _parse_cached(text)
                refs[m.name] = cond_lang.macro_refs(self.macro_ast[m.name])
            except cond_lang.ConditionError as exc:
                self.diag("error", "LOAD_ERR_COMPILE_CONDITION", f"{exc.message} (offset {exc.offset})",
                          m.name, m.file, m.fields["condition_line"])
                bad_macros.add(m.name)
                refs[m.name] = []
                self.macro_ast.pop(m.name, None)
                continue
            for ref, _ in refs[m.name]:
                target = macros.get(ref)
                if target is None or target.index >= m.visibility:
                    self.diag("error", "LOAD_ERR_COMPILE_CONDITION", f"Undefined macro '{ref}' used in filter.",
                              m.name, m.file, m.fields["condition_line"])
                    bad_macros.add(m.name)
        for name in _loops(refs, macros):
            self.diag("error", "LOAD_ERR_COMPILE_CONDITION", f"reference loop in macro '{name}'", name,
                      macros[name].file, macros[name].fields["condition_line"])
            bad_macros.add(name)
        # A macro that uses a broken macro is broken too.
        changed = True
        while changed:
            changed = False
            for name, rs in refs.items():
                if name not in bad_macros and any(r in bad_macros for r, _ in rs):
                    bad_macros.add(name)
                    changed = True
        self.invalid_macros = bad_macros

        used_macros: set[str] = set()
        for rs in refs.values():
            used_macros.update(r for r, _ in rs)
        for r in self.defs["rule"].values():
            full = "(" + r.fields["condition"] + ")"
            for exc in r.fields["exceptions"]:
                e = exception_condition(exc)
                if e:
                    full += " and not " + e
            text, used = substitute_lists(full, expanded)
            used_lists |= used
            self.compiled[r.name] = text
            self.rule_lists[r.name] = used
            try:
                self.rule_ast[r.name] = _parse_cached(text)
                rrefs = cond_lang.macro_refs(self.rule_ast[r.name])
            except cond_lang.ConditionError as exc:
                self.diag("error", "LOAD_ERR_COMPILE_CONDITION", f"{exc.message} (offset {exc.offset})",
                          r.name, r.file, r.fields["condition_line"])
                self.invalid_rules.add(r.name)
                self.rule_ast.pop(r.name, None)
                continue
            for ref, _ in rrefs:
                used_macros.add(ref)
                if ref not in macros:
                    self.diag("error", "LOAD_ERR_COMPILE_CONDITION", f"Undefined macro '{ref}' used in filter.",
                              r.name, r.file, r.fields["condition_line"])
                    self.invalid_rules.add(r.name)
                elif ref in bad_macros:
                    self.invalid_rules.add(r.name)
        # lists named inside used lists' items count as used too (text substitution found them)
        self.used_lists = used_lists
        self.used_macros = used_macros

    def finish(self) -> RuleSet:
        for lst in self.defs["list"].values():
            if lst.name not in self.used_lists:
                self.diag("warning", "LOAD_UNUSED_LIST", "List not referred to by any other rule/macro",
                          lst.name, lst.file, lst.line)
        for m in self.defs["macro"].values():
            if m.name not in self.used_macros:
                self.diag("warning", "LOAD_UNUSED_MACRO", "Macro not referred to by any other rule/macro",
                          m.name, m.file, m.line)
        return RuleSet(
            rules=self._rules_frame(), macros=self._macros_frame(), lists=self._lists_frame(),
            diagnostics=self._diag_frame(), files=pd.DataFrame(self.file_rows, columns=columns("rules.files")),
            required_engine_version=self.engine_version, required_plugin_versions=self.plugin_versions,
            condition_sources={(kind, d.name): list(d.fields["condition_parts"])
                               for kind in ("rule", "macro") for d in self.defs[kind].values()},
        )

    def _analysis(self, r: _Def) -> tuple[str | None, list[str] | None, list[str], list[str], list[str]]:
        """expanded_condition, evt_types (None: unrestricted or not a syscall rule), fields, macros, lists."""
        ast = self.rule_ast.get(r.name)
        if ast is None:
            return None, None, [], [], []
        used: list[str] = []
        pending = [n for n, _ in cond_lang.macro_refs(ast)]
        while pending:
            name = pending.pop(0)
            if name in used or name not in self.defs["macro"]:
                continue
            used.append(name)
            pending.extend(n for n, _ in cond_lang.macro_refs(self.macro_ast.get(name, ("and", []))))
        full = cond_lang.expand(ast, self.macro_ast)
        evts = None
        if r.fields["source"] == "syscall":
            s = cond_lang.evt_types(full)
            evts = None if s.neg else sorted(s.items)
        lists = set(self.rule_lists.get(r.name, set())).union(*(self.macro_lists.get(m, set()) for m in used))
        return cond_lang.to_text(full), evts, cond_lang.fields(full), used, sorted(lists, key=self.list_order.__getitem__)

    def _rules_frame(self) -> pd.DataFrame:
        self.list_order = {n: i for i, n in enumerate(self.defs["list"])}  # once: _analysis sorts by it
        rows = []
        for r in sorted(self.defs["rule"].values(), key=lambda x: x.index):
            f = r.fields
            split = split_tags(f["tags"])
            rows.append((
                r.name, f["desc"], f["condition"], self.compiled.get(r.name), *self._analysis(r), f["output"],
                f["priority"],
                f["source"], bool(f["enabled"]), bool(f["warn_evttypes"]), list(f["tags"]),
                [f["tag_sources"].get(t, f"{r.file}:{r.line}") for t in f["tags"]], split.maturity, split.tactics,
                split.techniques, split.other, [dict(e) for e in f["exceptions"]], r.file, r.line,
                list(r.touched), r.name not in self.invalid_rules,
            ))
        df = pd.DataFrame(rows, columns=columns("rules.rules"))
        df["priority"] = pd.Categorical(df["priority"], categories=PRIORITIES, ordered=True)
        df["line"] = df["line"].astype("int64")
        return df

    def _macros_frame(self) -> pd.DataFrame:
        rows = [(m.name, m.fields["condition"], self.macro_conditions.get(m.name, m.fields["condition"]), m.file,
                 m.line, list(m.touched), m.name in self.used_macros)
                for m in sorted(self.defs["macro"].values(), key=lambda x: x.index)]
        return pd.DataFrame(rows, columns=columns("rules.macros")).astype({"line": "int64", "used": bool})

    def _lists_frame(self) -> pd.DataFrame:
        rows = [(lst.name, list(self.expanded_lists.get(lst.name, (0, lst.fields["items"]))[1]), lst.file,
                 lst.line, list(lst.touched), lst.name in self.used_lists)
                for lst in sorted(self.defs["list"].values(), key=lambda x: x.index)]
        return pd.DataFrame(rows, columns=columns("rules.lists")).astype({"line": "int64", "used": bool})

    def _diag_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.diags, columns=["severity", "code", "message", "item", "file", "line"])
        df = df[columns("rules.diagnostics")]
        df["severity"] = pd.Categorical(df["severity"], categories=["error", "warning"])
        return df.astype({"line": "int64"})


_PARSE_CACHE: dict[str, Any] = {}


def _parse_cached(text: str) -> Any:
    """Parse with a small memo: Falco recompiles everything after each file."""
    hit = _PARSE_CACHE.get(text)
    if hit is None:
        if len(_PARSE_CACHE) > 50_000:
            _PARSE_CACHE.clear()
        try:
            hit = cond_lang.parse(text)
        except cond_lang.ConditionError as exc:
            hit = exc
        _PARSE_CACHE[text] = hit
    if isinstance(hit, cond_lang.ConditionError):
        raise hit
    return hit


def _loops(refs: dict[str, list[tuple[str, int]]], macros: dict[str, _Def]) -> list[str]:
    """Every macro on a reference cycle (reachable only through redefinition, given visibility)."""
    state: dict[str, int] = {}
    on_loop: list[str] = []
    for start in refs:
        if state.get(start):
            continue
        stack = [(start, iter(refs.get(start, [])))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            ref = nxt[0]
            if ref not in macros:
                continue
            if state.get(ref) == 1:  # back edge: everything on the stack from ref is on the cycle
                path = [n for n, _ in stack]
                for member in path[path.index(ref):]:
                    if member not in on_loop:
                        on_loop.append(member)
            elif not state.get(ref):
                state[ref] = 1
                stack.append((ref, iter(refs.get(ref, []))))
    return on_loop


def _expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            out.extend(sorted(q for q in path.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(path)
    return out


def load_rules(*paths: str | Path, strict: bool = False, max_bytes: int = MAX_BYTES) -> RuleSet:
    """Load Falco rules files (or directories of ``*.yaml``/``*.yml``, sorted) in the order given.

    With ``strict=True`` the first error raises :class:`RulesError`; otherwise errors become
    rows of ``diagnostics`` and loading goes on with what is valid, as Falco's loader would.
    """
    if not paths:
        raise RulesError("no rules files given")
    loader = _Loader(strict, max_bytes)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the YAML node graph makes the cyclic GC rescan a growing heap: quadratic time
    try:
        for path in _expand_paths(paths):
            if not path.exists():
                loader.diag("error", "LOAD_ERR_FILE_READ", "no such file", None, str(path), 0)
                loader.file_rows.append({"file": str(path), "loaded": False, "n_rules": 0, "n_macros": 0,
                                         "n_lists": 0, "constructs": []})
                continue
            loader.load_file(path)
        return loader.finish()
    finally:
        if gc_was_enabled:
            gc.enable()
