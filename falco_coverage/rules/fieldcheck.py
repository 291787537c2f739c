"""Check a rule's fields, event types, transformers and output tokens against the Falco catalogue.

Falco resolves every field of a rule when it compiles the rule (macros expanded), and every
``%field`` of its output. An unknown one is an error (``LOAD_ERR_COMPILE_CONDITION`` or
``LOAD_ERR_COMPILE_OUTPUT``) that drops the rule, unless the rule says
``skip-if-unknown-filter: true``: then Falco warns (``LOAD_UNKNOWN_FILTER``) and skips the rule.
Deprecated fields draw ``LOAD_DEPRECATED_ITEM`` warnings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from ..findings import Location
from .catalogue import Catalogue
from .collector import Definition
from .diagnostics import Diagnostics
from .nodes import EVT_TYPE_FIELDS, Check, Node, ValRef, base_field, checks

#: ``%field``, ``%field[arg]`` or ``%transformer(field)`` in an output
OUTPUT_TOKEN = re.compile(r"%(\w+\([^()]*(?:\([^()]*\))?[^()]*\)|[A-Za-z_][\w.]*[\w](?:\[[^\]]*\])?)")
_TRANSFORM = re.compile(r"^(\w+)\((.*)\)$", re.S)
_EVT_OPS = frozenset({"=", "==", "!=", "in"})


class Problem(NamedTuple):
    sub_code: str  # the error's sub-code when the rule does not skip unknown filters
    message: str
    where: str  # condition | output


def _expr_problems(cat: Catalogue, source: str, expr: str, where: str) -> Iterator[Problem]:
    """Transformers (outermost first) and the field under them."""
    if "(" not in expr:  # the common case: a plain field
        found = cat.field_problem(source, expr)
        if found is None:
            return
        m = None
    else:
        expr = expr.strip()
        m = _TRANSFORM.match(expr)
    while m:
        bad = cat.transformer_problem(m.group(1))
        if bad:
            yield Problem("ERROR_UNKNOWN_TRANSFORMER", bad, where)
            return
        expr = m.group(2).strip()
        if "," in expr:  # multi-argument transformers (join, concat): check each argument
            for part in expr.split(","):
                yield from _expr_problems(cat, source, part, where)
            return
        m = _TRANSFORM.match(expr)
    found = cat.field_problem(source, expr)
    if found:
        code = "ERROR_UNKNOWN_FIELD" if where == "condition" else "ERROR_UNKNOWN_OUTPUT_FIELD"
        message = found.message if where == "condition" else f"invalid formatting token {expr}: {found.message}"
        yield Problem(code, message, where)


def _check_problems(cat: Catalogue, source: str, node: Check) -> Iterator[Problem]:
    yield from _expr_problems(cat, source, node.field, "condition")
    if isinstance(node.value, ValRef):
        yield from _expr_problems(cat, source, node.value.field, "condition")
    if source == "syscall" and node.field in EVT_TYPE_FIELDS and node.op in _EVT_OPS:
        values = node.value if isinstance(node.value, list) else [node.value]
        for v in values:
            if isinstance(v, str) and v not in cat.events:
                yield Problem("ERROR_UNKNOWN_EVTTYPE", f"unknown event type {v}", "condition")


def output_fields(output: str) -> list[str]:
    """The field expressions of an output's ``%`` tokens, in order."""
    return OUTPUT_TOKEN.findall(output)


_TRANSFORMER_VALUE = re.compile(r"^\s*(\w+)\(\s*([^()\s]+)\s*\)\s*$")


class FieldChecker:
    """Checks rules against one catalogue, reporting each unchecked source once per load."""

    def __init__(self, cat: Catalogue, diags: Diagnostics) -> None:
        self.cat = cat
        self.diags = diags
        self._unchecked: set[str] = set()
        self._macro_memo: dict[tuple[str, str], tuple[list[Problem], dict[str, str]]] = {}
        self._deprecated_memo: dict[tuple[str, str], str | None] = {}

    def _deprecated(self, source: str, expr: str) -> tuple[str, str | None]:
        key = (source, expr)
        if key not in self._deprecated_memo:
            self._deprecated_memo[key] = self.cat.deprecated(source, base_field(expr))
        return base_field(expr) if "(" in expr else expr, self._deprecated_memo[key]

    def _condition(self, source: str, node: Node) -> tuple[list[Problem], dict[str, str]]:
        """The problems and the deprecated fields (name -> since) of one condition's own checks."""
        problems: list[Problem] = []
        deprecated: dict[str, str] = {}
        for check in checks(node):
            problems.extend(_check_problems(self.cat, source, check))
            for expr in (check.field, check.value.field if isinstance(check.value, ValRef) else None):
                if expr is not None:
                    name, since = self._deprecated(source, expr)
                    if since:
                        deprecated.setdefault(name, since)
        return problems, deprecated

    def __call__(self, r: Definition, ast: Node, macros: list[tuple[str, Node]]) -> bool:
        """Check rule ``r``: its own condition ``ast`` and the ``macros`` it uses (name, AST), each
        macro checked once per source; False when Falco would drop the rule."""
        source = str(r.fields["source"])
        where = r.pieces[0].location if r.pieces else r.location
        if not self.cat.checks_source(source):
            if source not in self._unchecked:
                self._unchecked.add(source)
                self.diags.add("unchecked-source", f"the field catalogue (Falco {self.cat.falco_version}) has no "
                               f"fields for source '{source}': its rules' fields are not checked", r.name, where, "rule")
            return True
        if not self._exceptions(r, source, where):
            return False
        problems, found_deprecated = self._condition(source, ast)
        for name, node in macros:
            key = (name, source)
            hit = self._macro_memo.get(key)
            if hit is None:
                hit = self._macro_memo[key] = self._condition(source, node)
            problems = problems + hit[0]
            found_deprecated = {**hit[1], **found_deprecated}
        deprecated = {(name, "condition"): since for name, since in found_deprecated.items()}
        output = str(r.fields.get("output", ""))
        for token in output_fields(output) if "%" in output else ():
            if token in self.cat.output_placeholders:
                since = self.cat.output_placeholders[token]
                if since and self.cat.available(since):
                    deprecated.setdefault((token, "output"), since)
                continue
            problems.extend(_expr_problems(self.cat, source, token, "output"))
            name, since = self._deprecated(source, token)
            if since:
                deprecated.setdefault((name, "output"), since)
        for (name, place), since in deprecated.items():
            message = (f"%{name} is deprecated and no longer useful: Falco {since} and later print nothing for it"
                       if name in self.cat.output_placeholders else
                       f"usage of deprecated field '{name}' has been detected in the rule {place} (deprecated since "
                       f"Falco {since})")
            self.diags.add("WARNING_DEPRECATED_FIELD", message, r.name, where, "rule")
        if not problems:
            return True
        skip = bool(r.fields.get("skip-if-unknown-filter"))
        for p in problems:
            at = where if p.where == "condition" else r.location
            self.diags.add("LOAD_UNKNOWN_FILTER" if skip else p.sub_code,
                           (p.message + "; rule skipped (skip-if-unknown-filter)") if skip else p.message,
                           r.name, at, "rule")
        return False

    def _exceptions(self, r: Definition, source: str, where: Location) -> bool:
        """Falco validates exception fields when it reads a rule, and warns when a value looks like a
        field (or a transformer of one) that will be compared as a plain string."""
        for exc in r.fields.get("exceptions") or []:
            names = exc["fields"] if isinstance(exc["fields"], list) else [exc["fields"]]
            for name in names:
                field = base_field(name) if isinstance(name, str) else None
                if field is not None and self.cat.field_problem(source, field):
                    self.diags.add("ERROR_EXCEPTION_FIELD", f"Rule exception item '{exc['name']}': '{field}' is not a "
                                   "supported filter field", r.name, where, "rule")
                    return False
            tuples = exc["values"] if isinstance(exc["fields"], list) else [[v] for v in exc["values"]]
            for tup in tuples:
                for value in tup if isinstance(tup, list) else []:
                    if isinstance(value, str):
                        self._value_warning(r, source, value, where)
        return True

    def _value_warning(self, r: Definition, source: str, value: str, where: Location) -> None:
        text = value.strip()
        if text and "." in text and " " not in text and "(" not in text and not self.cat.field_problem(source, text):
            self.diags.add("WARNING_FIELD_AS_VALUE", f"'{value}' may be a valid field misused as a const string value",
                           r.name, where, "rule")
            return
        m = _TRANSFORMER_VALUE.match(value)
        if m and " " in value and m.group(1) in self.cat.transformers \
                and not self.cat.field_problem(source, m.group(2)):
            self.diags.add("WARNING_FIELD_AS_VALUE", f"'{value}' may be a valid field transformer misused as a const "
                           "string value", r.name, where, "rule")
