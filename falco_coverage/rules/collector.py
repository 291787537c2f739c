"""Apply the items of rules files, in order, with Falco's semantics: one :class:`Definition` per name.

An item acts in one of four ways:

- **define**: a new name is added at the end; a name defined again is replaced whole but keeps
  its position (rules also keep their first file and line);
- **override** (``override: {key: append|replace}``): appends to or replaces keys of the earlier
  definition; a list or macro with only ``replace`` is a plain redefinition;
- **legacy append** (``append: true``, deprecated): appends items, condition or exceptions;
- **enable-only** (a rule item with only ``enabled``, deprecated): switches an earlier rule.

An append or override with no earlier definition is an error (ERROR_NO_PREVIOUS_*). Each action
raises a definition's *visibility*: a macro sees only macros defined (or last changed) before it.
Compilation (:mod:`falco_coverage.rules.compiler`) fills in the rest of each record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..findings import Location
from ..versions import version_key
from .decode import (
    APPENDABLE, BOOL_KEYS, KINDS, KNOWN_KEYS, LIST_NAME_RE, NAME_RE, REPLACEABLE, RULE_DEFAULTS, VERSIONED_RULE_KEYS, Invalid,
    decode, engine_version, to_bool, validate_exception,
)
from .diagnostics import MESSAGES, NO_PREVIOUS, Diagnostics
from .nodes import Node
from .reader import Item


@dataclass
class Piece:
    """One piece of a condition as written: where, and its text (appends start with a blank)."""

    location: Location
    text: str


@dataclass
class Definition:
    """One list, macro or rule after every item so far, and what compiling it found."""

    kind: str
    name: str
    location: Location  # of the first definition
    index: int  # position among its kind: later redefinitions keep it
    visibility: int  # raised by every item that changes it
    fields: dict[str, Any]
    changed_at: list[Location]
    #: the condition's pieces (rules and macros): the definition, then every append
    pieces: list[Piece] = field(default_factory=list)
    #: where each tag is written (rules; first occurrence of a tag wins)
    tag_locations: dict[str, Location] = field(default_factory=dict)
    # --- filled in by the compiler after each file ---
    compiled: str | None = None  # lists substituted (rules: exceptions added too)
    ast: Node | None = None  # of ``compiled``; None when it does not parse
    lists_used: set[str] = field(default_factory=set)
    undefined: list[str] = field(default_factory=list)  # macros it names that it cannot see
    in_loop: bool = False
    valid: bool = True
    used: bool = False
    #: keys Falco ignores on the items that made it: {"key", "value", "location"} each
    ignored_keys: list[dict[str, Any]] = field(default_factory=list)

    @property
    def condition(self) -> str:
        return str(self.fields.get("condition", ""))

    def origin(self, base_files: set[str]) -> str:
        """``own`` when an item outside ``base_files`` defined or changed it, else ``base``."""
        return "own" if any(loc.file not in base_files for loc in self.changed_at) else "base"


def _tag_locations(item: Item, tags: list[str]) -> dict[str, Location]:
    out: dict[str, Location] = {}
    for i, tag in enumerate(tags):
        line = item.tag_spans[i].line if i < len(item.tag_spans) else item.line_of("tags")
        out.setdefault(tag, Location(item.file, line))
    return out


@dataclass
class FileSummary:
    file: str
    loaded: bool
    base: bool = False
    n_rules: int = 0
    n_macros: int = 0
    n_lists: int = 0
    constructs: list[str] = field(default_factory=list)


class Collector:
    """The definitions of every file read so far, in Falco's order."""

    def __init__(self, diags: Diagnostics, base_files: set[str] | None = None) -> None:
        self.diags = diags
        #: files loaded as the base (upstream) under the user's own
        self.base_files = base_files or set()
        self.defs: dict[str, dict[str, Definition]] = {"list": {}, "macro": {}, "rule": {}}
        self.counter = 0
        self.engine_version: str | None = None
        #: every required_engine_version item: (version, where)
        self.engine_requirements: list[tuple[str, Location]] = []
        self.plugin_versions: list[dict[str, Any]] = []
        self.files: list[FileSummary] = []
        self._defined_in: dict[tuple[str, str, str], int] = {}  # (kind, name, file) -> line of a full definition

    def add_file(self, file: str, items: list[Item], loaded: bool) -> None:
        """Apply every item of one file, recording what the file uses."""
        summary = FileSummary(file, loaded, file in self.base_files)
        constructs: set[str] = set()
        for item in items:
            kind = next((k for k in KINDS if k in item.data), None)
            if kind is None:
                self.diags.add("LOAD_UNKNOWN_ITEM", "Unknown top level object", None, Location(file, item.line))
                continue
            name = item.data.get(kind) if kind in self.defs else None
            try:
                self._item(kind, item, constructs)
                if kind in self.defs:
                    setattr(summary, f"n_{kind}s", getattr(summary, f"n_{kind}s") + 1)
            except Invalid as exc:
                self.diags.add(exc.code, exc.message, name if isinstance(name, str) else None, Location(file, exc.line),
                               kind)
        summary.constructs = sorted(constructs)
        self.files.append(summary)

    def _bump(self) -> int:
        self.counter += 1
        return self.counter

    def _touch(self, d: Definition, item: Item) -> None:
        d.visibility = self._bump()
        d.changed_at.append(Location(item.file, item.line))

    def _item(self, kind: str, item: Item, constructs: set[str]) -> None:
        d = item.data
        if kind == "required_engine_version":
            self._engine_version(d[kind], item, constructs)
            return
        if kind == "required_plugin_versions":
            self._plugin_versions(d[kind], item, constructs)
            return
        name = d[kind]
        if not isinstance(name, str) or not name.strip():
            raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Mapping for key '{kind}' is empty", item.line)
        ignored = self._unknown_keys(kind, name, item)
        if kind in ("list", "macro") and not (LIST_NAME_RE if kind == "list" else NAME_RE).fullmatch(name):
            self.diags.add(f"LOAD_INVALID_{kind.upper()}_NAME",
                           f"{kind.capitalize()} has an invalid name. {kind.capitalize()} names should match a regular "
                           f"expression: {(LIST_NAME_RE if kind == 'list' else NAME_RE).pattern} ('{name}')", name,
                           Location(item.file, item.line), kind)
        for key in BOOL_KEYS & d.keys():
            d[key] = to_bool(d[key], key, item.line_of(key))
        constructs.update(f"rule key '{k}'" for k in VERSIONED_RULE_KEYS & d.keys() if kind == "rule")
        append = d.get("append", False)
        override = d.get("override")
        if override is not None and append:
            self.diags.add("WARNING_APPEND", MESSAGES["WARNING_APPEND"], name, Location(item.file, item.line), kind)
            raise Invalid("ERROR_OVERRIDE_APPEND", MESSAGES["ERROR_OVERRIDE_APPEND"], item.line)
        if override is not None:
            constructs.add("override")
            self._override(kind, name, item)
        elif append:
            constructs.add("append: true (deprecated)")
            self.diags.add("WARNING_APPEND", MESSAGES["WARNING_APPEND"], name, Location(item.file, item.line), kind)
            self._legacy_append(kind, name, item)
        elif kind == "rule" and not {"condition", "output", "desc", "priority"} & d.keys():
            constructs.add("enabled-only rule item (deprecated)")
            self._enable_only(name, item)
        else:
            self._define(kind, name, item, constructs, warn_duplicate=True)
        if ignored and name in self.defs[kind]:
            self.defs[kind][name].ignored_keys.extend(ignored)

    def _engine_version(self, value: Any, item: Item, constructs: set[str]) -> None:
        v = engine_version(value)
        if v is None:
            raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Unable to parse engine version '{value}' as a semver string. "
                          'Expected "x.y.z" semver format.', item.line)
        constructs.add("required_engine_version: integer" if str(value).strip().isdigit()
                       else "required_engine_version: semver")
        self.engine_requirements.append((v, Location(item.file, item.line)))
        if self.engine_version is None or version_key(v) > version_key(self.engine_version):
            self.engine_version = v

    def _unknown_keys(self, kind: str, name: str, item: Item) -> list[dict[str, Any]]:
        """Keys Falco ignores (each a LOAD_UNKNOWN_KEY warning at its line), kept for the rules frame."""
        ignored = []
        for key in item.data:
            if key not in KNOWN_KEYS[kind]:
                where = Location(item.file, item.line_of(key))
                self.diags.add("LOAD_UNKNOWN_KEY", f"Unknown key '{key}'. The key will be ignored.", name, where, kind)
                ignored.append({"key": key, "value": item.data[key], "location": where})
        return ignored

    def _appended(self, prev: Definition, fields: dict[str, Any], key: str, value: Any, item: Item) -> Any:
        """The value of ``key`` after ``override: {key: append}``."""
        if key == "items":
            return fields["items"] + value
        if key in ("condition", "output", "desc"):
            return fields[key] + " " + value
        if key == "tags":
            return fields["tags"] + [t for t in value if t not in fields["tags"]]
        if key == "exceptions":
            return self._merge_exceptions(prev, value, item)
        return fields[key]

    def _plugin_versions(self, value: Any, item: Item, constructs: set[str]) -> None:
        if not isinstance(value, list):
            raise Invalid("LOAD_ERR_YAML_VALIDATE", "required_plugin_versions must be a list", item.line)
        constructs.add("required_plugin_versions")
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                    or not isinstance(entry.get("version"), str):
                raise Invalid("LOAD_ERR_YAML_VALIDATE",
                              "each required_plugin_versions entry needs a 'name' and a 'version'", item.line)
            alts = entry.get("alternatives") or []
            if not isinstance(alts, list) or not all(
                    isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("version"), str)
                    for a in alts):
                raise Invalid("LOAD_ERR_YAML_VALIDATE",
                              "required_plugin_versions alternatives need a 'name' and a 'version'", item.line)
            if alts:
                constructs.add("required_plugin_versions alternatives")
            self.plugin_versions.append({
                "name": entry["name"], "version": entry["version"],
                "alternatives": [{"name": a["name"], "version": a["version"]} for a in alts],
                "file": item.file, "line": item.line,
            })

    # --- the four ways an item acts -------------------------------------------------------------
    def _define(self, kind: str, name: str, item: Item, constructs: set[str], warn_duplicate: bool = False) -> None:
        d = item.data
        required = {"list": ("items",), "macro": ("condition",), "rule": ("condition", "output", "desc", "priority")}
        for key in required[kind]:
            if key not in d:
                raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Item has no mapping for key '{key}'", item.line)
        fields_ = {k: decode(kind, k, d[k], item) for k in required[kind]}
        tag_locations: dict[str, Location] = {}
        if kind == "rule":
            for key, default in RULE_DEFAULTS.items():
                fields_[key] = decode(kind, key, d[key], item) if key in d else (
                    list(default) if isinstance(default, list) else default)
            tag_locations = _tag_locations(item, fields_["tags"])
            if fields_["exceptions"]:
                constructs.add("exceptions")
            names = [e["name"] for e in fields_["exceptions"]]
            for dup in sorted({n for n in names if names.count(n) > 1}):
                self.diags.add("LOAD_EXCEPTION_NAME_NOT_UNIQUE",
                               f"Multiple definitions of exception '{dup}' in the same rule", name,
                               Location(item.file, item.line_of("exceptions")), kind)
        pieces = [Piece(Location(item.file, item.line_of("condition")), fields_["condition"])] \
            if "condition" in fields_ else []
        prev = self.defs[kind].get(name)
        if kind == "rule" and prev is not None and prev.fields["source"] != fields_["source"]:
            raise Invalid("ERROR_SOURCE_MISMATCH", "Rule has been re-defined with a different source", item.line)
        vis = self._bump()
        here = Location(item.file, item.line)
        first = self._defined_in.get((kind, name, item.file))
        if warn_duplicate and first is not None and prev is not None:
            self.diags.add("duplicate-definition", f"{kind} '{name}' is defined again in this file (first at line "
                           f"{first}); this definition replaces that one whole", name, here, kind)
        if warn_duplicate and first is None:
            self._defined_in[(kind, name, item.file)] = item.line
        if prev is None:
            new = Definition(kind, name, here, vis, vis, fields_, [here], pieces, tag_locations)
        else:  # full redefinition: replaces everything, keeps the position
            new = Definition(kind, name, prev.location, prev.index, vis, fields_, prev.changed_at + [here], pieces,
                             tag_locations)
        self.defs[kind][name] = new

    def _enable_only(self, name: str, item: Item) -> None:
        if "enabled" not in item.data:
            raise Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'enabled'", item.line)
        self.diags.add("WARNING_ENABLED", MESSAGES["WARNING_ENABLED"], name, Location(item.file, item.line), "rule")
        prev = self.defs["rule"].get(name)
        if prev is None:
            raise Invalid("ERROR_NO_PREVIOUS_RULE_ENABLE", MESSAGES["ERROR_NO_PREVIOUS_RULE_ENABLE"], item.line)
        prev.fields["enabled"] = item.data["enabled"]
        self._touch(prev, item)

    def _append_condition(self, d: Definition, text: str, item: Item) -> None:
        d.fields["condition"] = d.fields["condition"] + " " + text
        d.pieces.append(Piece(Location(item.file, item.line_of("condition")), " " + text))

    def _legacy_append(self, kind: str, name: str, item: Item) -> None:
        d = item.data
        prev = self.defs[kind].get(name)
        code = NO_PREVIOUS[kind]
        if kind == "list":
            new_items = decode(kind, "items", d.get("items"), item)
            if prev is None:
                raise Invalid(code, MESSAGES[code], item.line)
            prev.fields["items"] = prev.fields["items"] + new_items
        elif kind == "macro":
            if "condition" not in d:
                raise Invalid("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'condition'", item.line)
            text = decode(kind, "condition", d["condition"], item)
            if prev is None:
                raise Invalid(code, MESSAGES[code], item.line)
            self._append_condition(prev, text, item)
        else:  # rules take only condition and exceptions; every other key is ignored
            if "condition" not in d and "exceptions" not in d:
                raise Invalid("LOAD_ERR_VALIDATE", "Appended rule must have exceptions or condition property",
                              item.line)
            text = decode(kind, "condition", d["condition"], item) if "condition" in d else None
            excs = decode(kind, "exceptions", d["exceptions"], item, append=True) if "exceptions" in d else []
            if prev is None:
                raise Invalid(code, MESSAGES[code], item.line)
            source = d.get("source")
            if isinstance(source, str) and source and source != prev.fields["source"]:
                raise Invalid("ERROR_SOURCE_MISMATCH", "Rule has been re-defined with a different source", item.line)
            new_excs = self._merge_exceptions(prev, excs, item)
            if text is not None:
                self._append_condition(prev, text, item)
            prev.fields["exceptions"] = new_excs
        self._touch(prev, item)

    def _merge_exceptions(self, prev: Definition, excs: list[dict[str, Any]], item: Item) -> list[dict[str, Any]]:
        merged = [dict(e) for e in prev.fields["exceptions"]]
        by_name = {e["name"]: e for e in merged}
        for exc in excs:
            if exc["name"] in by_name:
                target = by_name[exc["name"]]
                if not exc["values"]:
                    self.diags.add("LOAD_APPEND_NO_VALUES", f"Overriding/appending exception with no values "
                                   f"(exception '{exc['name']}')", prev.name,
                                   Location(item.file, item.line_of("exceptions")), "rule")
                target["values"] = list(target["values"]) + list(exc["values"])
                validate_exception(target, item.line_of("exceptions"), need_fields=True)
            else:
                if exc["fields"] is None:
                    raise Invalid("LOAD_ERR_VALIDATE", f"Rule exception item '{exc['name']}': Rule exception must have "
                                  "fields property with a list of fields", item.line_of("exceptions"))
                merged.append(exc)
                by_name[exc["name"]] = exc
        return merged

    @staticmethod
    def _check_override(kind: str, item: Item) -> dict[str, str]:
        """The item's ``override`` mapping, valid for its kind and keys; Invalid (Falco's message) otherwise."""
        d = item.data
        ov = d["override"]
        ov_line = item.line_of("override")
        if not isinstance(ov, dict) or not ov:
            raise Invalid("LOAD_ERR_YAML_VALIDATE", "Value of 'override' must be a mapping of key: append|replace",
                          ov_line)
        for key, op in ov.items():
            if op not in ("append", "replace"):
                raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Invalid override operation for key '{key}': '{op}'. "
                              "Allowed values are: append, replace", ov_line)
            if op == "append" and key not in APPENDABLE[kind]:
                hint = ", use 'replace' instead" if key in REPLACEABLE[kind] else ""
                raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Key '{key}' cannot be appended to{hint}", ov_line)
            if op == "replace" and key not in REPLACEABLE[kind]:
                raise Invalid("LOAD_ERR_YAML_VALIDATE", f"Key '{key}' cannot be replaced", ov_line)
            if key not in d:
                raise Invalid("LOAD_ERR_YAML_VALIDATE",
                              f"An {op} override for '{key}' was specified but '{key}' is not defined", ov_line)
        for key in d:
            if key in (APPENDABLE[kind] | REPLACEABLE[kind]) and key not in ov:
                raise Invalid("LOAD_ERR_YAML_VALIDATE",
                              f"Unexpected key '{key}': an 'override' entry must be specified for it", item.line_of(key))
        return ov

    def _override(self, kind: str, name: str, item: Item) -> None:
        d = item.data
        ov = self._check_override(kind, item)
        appends = [k for k, op in ov.items() if op == "append"]
        replaces = [k for k, op in ov.items() if op == "replace"]
        values = {k: decode(kind, k, d[k], item, append=(ov[k] == "append")) for k in ov}
        prev = self.defs[kind].get(name)
        if kind in ("list", "macro") and not appends:  # replace-only: a plain redefinition
            self._define(kind, name, item, set())
            return
        if prev is None:
            code = NO_PREVIOUS[kind] if appends else "ERROR_NO_PREVIOUS_RULE_REPLACE"
            raise Invalid(code, MESSAGES[code], item.line)
        if kind == "rule" and "source" in d and decode(kind, "source", d["source"], item) != prev.fields["source"]:
            raise Invalid("ERROR_SOURCE_MISMATCH", "Rule has been re-defined with a different source", item.line)
        f = dict(prev.fields)
        pieces = list(prev.pieces)
        tag_locations = dict(prev.tag_locations)
        for key in appends:  # appends first, then replaces
            if key == "condition":
                pieces.append(Piece(Location(item.file, item.line_of("condition")), " " + values[key]))
            elif key == "tags":
                tag_locations = {**_tag_locations(item, values[key]), **tag_locations}
            f[key] = self._appended(prev, f, key, values[key], item)
        for key in replaces:
            f[key] = values[key]
            if key == "tags":
                tag_locations = _tag_locations(item, values[key])
            if key == "condition":
                pieces = [Piece(Location(item.file, item.line_of("condition")), values[key])]
        prev.fields, prev.pieces, prev.tag_locations = f, pieces, tag_locations
        self._touch(prev, item)
