"""Condition lint: what Falco would reject or warn about at start-up, found before deploying.

``lint(ruleset)`` returns findings in the same table as the tag checks, each at the file, line and
column where the condition text is written (also when an append/override in another file wrote it).
It reads the loader's structured facts (undefined macro names, reference loops, event types, which
macros and lists are used) and the condition nodes; codes and severities: :mod:`falco_coverage.codes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from ...codes import INLINE_LIST_MIN, MAX_EVT_TYPES, REGISTRY
from ...config import CheckConfig, load_config
from ...findings import Finding, Location, findings_frame
from ...rules import RuleSet
from ...rules.collector import Definition, Piece
from ...rules.compiler import parse_cached
from ...rules.condition import ConditionError
from ...rules.nodes import EVT_TYPE_FIELDS, Node, checks, macro_refs
from .load_findings import own_findings

_TOKEN = re.compile(r"[A-Za-z0-9_.\-/\[\]:*]+|\S")


class Locator:
    """Map an offset in a (possibly appended) condition to the file, line and column of its text."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}

    def lines(self, file: str) -> list[str]:
        if file not in self.texts:
            try:
                self.texts[file] = Path(file).read_text(errors="replace").splitlines()
            except OSError:
                self.texts[file] = []
        return self.texts[file]

    def locate(self, pieces: list[Piece], offset: int) -> Location:
        pos = 0
        for n, piece in enumerate(pieces):
            (file, line, _), text = piece.location, piece.text
            if offset < pos + len(text) or n == len(pieces) - 1:
                local = max(0, offset - pos)
                m = _TOKEN.match(text, local)
                if m is None:  # at the end (or on blanks): point just past the previous token
                    prev = list(_TOKEN.finditer(text[:local]))
                    if not prev:
                        return Location(file, line)
                    found = self._find(file, line, prev[-1].group(0), self._nth(text, prev[-1]))
                    return Location(file, found[0], (found[1] + len(prev[-1].group(0))) if found[1] else None)
                return Location(file, *self._find(file, line, m.group(0), self._nth(text, m)))
            pos += len(text)
        return pieces[-1].location if pieces else Location("?", 0)

    @staticmethod
    def _nth(text: str, m: re.Match[str]) -> int:
        """How many times ``m``'s token occurs (as a token) before it in ``text``."""
        return len(re.findall(rf"(?<![\w.]){re.escape(m.group(0))}", text[:m.start()]))

    def _find(self, file: str, line: int, token: str, nth: int) -> tuple[int, int | None]:
        lines = self.lines(file)
        pattern = re.compile(rf"(?<![\w.]){re.escape(token)}")
        seen = 0
        for i in range(line - 1, min(len(lines), line + 400)):
            text = lines[i]
            start = text.find("condition:") + len("condition:") if i == line - 1 and "condition:" in text else 0
            for m in pattern.finditer(text, start):
                if seen == nth:
                    return i + 1, m.start() + 1
                seen += 1
        return line, None



@dataclass
class Subject:
    """One macro or rule condition to lint: its compiled record, and for rules the loader's analysis."""

    kind: str
    d: Definition
    enabled: bool = True
    evt_types: list[str] | None = None
    expanded: bool = False
    source: str = "syscall"
    warn_evttypes: bool = True

    @property
    def pieces(self) -> list[Piece]:
        return self.d.pieces or [Piece(self.d.location, self.d.condition)]

    @cached_property
    def parsed(self) -> Node | ConditionError:
        """The condition as written (not list-substituted), so offsets map back to the file."""
        try:
            return parse_cached(self.d.condition)
        except ConditionError as exc:
            return exc


@dataclass
class LintContext:
    ruleset: RuleSet
    locator: Locator
    inline_list_min: int

    def finding(self, code: str, s: Subject, message: str, offset: int | None, **kw: object) -> Finding:
        where = self.locator.locate(s.pieces, offset) if offset is not None else s.pieces[0].location
        return Finding(code, s.d.name, message, where, enabled=s.enabled, **kw)  # type: ignore[arg-type]


def _syntax(code: str) -> None:
    @REGISTRY.check(code)
    def _check(s: Subject, ctx: LintContext) -> Iterator[Finding]:
        if isinstance(s.parsed, ConditionError) and s.parsed.code == code:
            yield ctx.finding(code, s, f"{s.kind} '{s.d.name}': {s.parsed.message}", s.parsed.offset)


_syntax("parse-error")
_syntax("unknown-operator")


@REGISTRY.check("undefined-macro")
def _undefined(s: Subject, ctx: LintContext) -> Iterator[Finding]:
    if isinstance(s.parsed, ConditionError) or not s.d.undefined:
        return
    defined = set(ctx.ruleset.macros["name"])
    for ref, offset in macro_refs(s.parsed):
        if ref in s.d.undefined:
            hint = " (it is defined later: a macro sees only earlier macros)" \
                if s.kind == "macro" and ref in defined else ""
            yield ctx.finding("undefined-macro", s, f"{s.kind} '{s.d.name}' uses undefined macro '{ref}'{hint}", offset)


@REGISTRY.check("macro-loop")
def _loop(s: Subject, ctx: LintContext) -> Iterator[Finding]:
    if s.kind != "macro" or not s.d.in_loop or isinstance(s.parsed, ConditionError):
        return
    first = macro_refs(s.parsed)
    yield ctx.finding("macro-loop", s, f"macro '{s.d.name}' is part of a reference loop",
                      first[0][1] if first else None)


@REGISTRY.check("inline-list")
def _inline_list(s: Subject, ctx: LintContext) -> Iterator[Finding]:
    if isinstance(s.parsed, ConditionError):
        return
    list_names = ctx.ruleset.definitions
    for node in checks(s.parsed):
        if not isinstance(node.value, list) or node.field in EVT_TYPE_FIELDS:
            continue
        literal = [v for v in node.value if ("list", v) not in list_names]
        if len(literal) >= ctx.inline_list_min:
            name = re.sub(r"[^a-z0-9]+", "_", node.field.split(".")[-1].lower())
            yield ctx.finding("inline-list", s, f"{s.kind} '{s.d.name}': '{node.field} {node.op} (...)' lists "
                              f"{len(literal)} literal values inline; move them to a named list", node.offset,
                              suggestion=f"- list: {name}_values")


@REGISTRY.check("no-evttype")
def _no_evttype(s: Subject, ctx: LintContext) -> Iterator[Finding]:
    # with a broken macro the set is unknown; the macro's own error says why
    if s.kind != "rule" or s.source != "syscall" or not s.warn_evttypes or not s.expanded or not s.d.valid:
        return
    if s.evt_types is None or len(s.evt_types) > MAX_EVT_TYPES:
        count = "all event types" if s.evt_types is None else f"{len(s.evt_types)} event types"
        yield ctx.finding("no-evttype", s, f"rule '{s.d.name}' matches {count}: Falco warns (LOAD_NO_EVTTYPE) and "
                          "evaluates it on every event; restrict it with evt.type", 0,
                          suggestion="evt.type in (...) and ...")


def _unused(kind: str) -> None:
    code = f"unused-{kind}"

    @REGISTRY.finalizer(code)
    def _finalize(ctx: LintContext) -> Iterator[Finding]:
        frame = ctx.ruleset.macros if kind == "macro" else ctx.ruleset.lists
        for rec in frame[~frame["used"]].to_dict("records"):
            yield Finding(code, rec["name"], f"{kind} '{rec['name']}' is not used by any rule or macro",
                          Location(rec["file"], int(rec["line"]), 1))


_unused("macro")
_unused("list")


def _subjects(ruleset: RuleSet) -> Iterator[Subject]:
    """Every macro, then every rule."""
    for name in ruleset.macros["name"]:
        yield Subject("macro", ruleset.definition("macro", name))
    for rec in ruleset.rules[["name", "enabled", "evt_types", "expanded_condition", "source",
                              "warn_evttypes"]].to_dict("records"):
        yield Subject("rule", ruleset.definition("rule", rec["name"]), bool(rec["enabled"]), rec["evt_types"],
                      isinstance(rec["expanded_condition"], str), rec["source"], bool(rec["warn_evttypes"]))


def lint(ruleset: RuleSet, *, config: CheckConfig | str | Path | None = None,
         inline_list_min: int = INLINE_LIST_MIN) -> pd.DataFrame:
    """Lint every macro and rule condition of ``ruleset``; one row per finding (findings columns), only
    those in the user's own files when some were loaded as the base."""
    cfg = config if isinstance(config, CheckConfig) else load_config(config)
    found = REGISTRY.run("lint", _subjects(ruleset), LintContext(ruleset, Locator(), inline_list_min), cfg)
    df = own_findings(findings_frame(found, REGISTRY.codes("lint")), ruleset)
    return df.sort_values(["file", "line", "column", "code"], kind="stable", ignore_index=True)
