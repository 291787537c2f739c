"""Condition lint: what Falco would reject or warn about at start-up, found before deploying.

``lint(ruleset)`` returns findings in the same table as the tag checks, each at the file, line and
column where the condition text is written (also when an append/override in another file wrote it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import condition as cond_lang
from .checks import CheckSpec, Finding, findings_frame
from .config import CheckConfig

if TYPE_CHECKING:
    from .rules import RuleSet

#: Falco's LOAD_NO_EVTTYPE threshold
MAX_EVT_TYPES = 100
#: an inline list with at least this many literal items should be a named list
INLINE_LIST_MIN = 8

LINTS: dict[str, CheckSpec] = {}


def _spec(code: str, severity: str, summary: str) -> None:
    LINTS[code] = CheckSpec(code, severity, summary, False, lambda *a: iter(()))


_spec("parse-error", "error", "the condition does not parse")
_spec("unknown-operator", "error", "a field is followed by a word that is not an operator")
_spec("undefined-macro", "error", "a macro that is not defined (or, from a macro, not defined before it)")
_spec("macro-loop", "error", "macros that reference each other in a loop")
_spec("unused-macro", "warning", "a macro no rule or macro uses")
_spec("unused-list", "warning", "a list no condition or list uses")
_spec("no-evttype", "warning", f"a syscall rule that matches all (or over {MAX_EVT_TYPES}) event types")
_spec("inline-list", "warning", f"an inline list of {INLINE_LIST_MIN} or more literal items: make it a named list")

_TOKEN = re.compile(r"[A-Za-z0-9_.\-/\[\]:*]+|\S")


class _Locator:
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

    def locate(self, parts: list[tuple[str, int, str]], offset: int) -> tuple[str, int, int | None]:
        pos = 0
        for file, line, text in parts:
            if offset < pos + len(text) or (file, line, text) == parts[-1]:
                local = max(0, offset - pos)
                m = _TOKEN.match(text, local)
                if m is None:  # at the end (or on blanks): point just past the previous token
                    prev = list(_TOKEN.finditer(text[:local]))
                    if not prev:
                        return file, line, None
                    found = self._find(file, line, prev[-1].group(0), self._nth(text, prev[-1]))
                    return file, found[0], (found[1] + len(prev[-1].group(0))) if found[1] else None
                token = m.group(0)
                return (file, *self._find(file, line, token, self._nth(text, m)))
            pos += len(text)
        return parts[-1][0], parts[-1][1], None

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


def _items(ruleset: RuleSet) -> Iterator[tuple[str, str, str, bool]]:
    """(kind, name, raw condition, enabled) of every macro, then every rule."""
    for rec in ruleset.macros.to_dict("records"):
        yield "macro", rec["name"], rec["condition"], True
    for rec in ruleset.rules.to_dict("records"):
        yield "rule", rec["name"], rec["condition"], bool(rec["enabled"])


def lint(ruleset: RuleSet, *, config: CheckConfig | str | Path | None = None,
         inline_list_min: int = INLINE_LIST_MIN) -> pd.DataFrame:
    """Lint every macro and rule condition of ``ruleset``; one row per finding (findings columns)."""
    from .checks import known_codes
    from .config import load_config

    cfg = config if isinstance(config, CheckConfig) else load_config(config, known_codes())
    loc = _Locator()
    out: list[Finding] = []
    list_names = set(ruleset.lists["name"])
    diag = ruleset.diagnostics
    compile_errors: dict[str, list[str]] = {}
    for item, message in zip(diag["item"], diag["message"]) if len(diag) else ():
        compile_errors.setdefault(item, []).append(message)

    def add(code: str, name: str, message: str, where: tuple[str, int, int | None], enabled: bool = True,
            suggestion: str | None = None) -> None:
        out.append(Finding(name, code, message, suggestion=suggestion, file=where[0], line=where[1],
                           column=where[2], enabled=enabled))

    for kind, name, text, enabled in _items(ruleset):
        parts = ruleset.condition_sources.get((kind, name)) or [("?", 0, text)]
        try:
            ast = cond_lang.parse(text)
        except cond_lang.ConditionError as exc:
            add(exc.code, name, f"{kind} '{name}': {exc.message}", loc.locate(parts, exc.offset), enabled)
            continue
        errors = compile_errors.get(name, [])
        undefined = {m.group(1) for m in map(re.compile(r"Undefined macro '([^']+)'").search, errors) if m}
        for ref, offset in cond_lang.macro_refs(ast):
            if ref in undefined:
                hint = " (it is defined later: a macro sees only earlier macros)" \
                    if kind == "macro" and ref in set(ruleset.macros["name"]) else ""
                add("undefined-macro", name, f"{kind} '{name}' uses undefined macro '{ref}'{hint}",
                    loc.locate(parts, offset), enabled)
        if any("reference loop" in m for m in errors):
            first = cond_lang.macro_refs(ast)
            where = loc.locate(parts, first[0][1]) if first else (parts[0][0], parts[0][1], None)
            add("macro-loop", name, f"macro '{name}' is part of a reference loop", where)
        for node in cond_lang.walk(ast):
            if node[0] != "check" or not isinstance(node[3], list) or node[1] in cond_lang.EVT_TYPE_FIELDS:
                continue
            literal = [v for v in node[3] if v not in list_names]
            if len(literal) >= inline_list_min:
                add("inline-list", name, f"{kind} '{name}': '{node[1]} {node[2]} (...)' lists {len(literal)} literal "
                    "values inline; move them to a named list", loc.locate(parts, node[4]), enabled,
                    suggestion=f"- list: {re.sub(r'[^a-z0-9]+', '_', node[1].split('.')[-1].lower())}_values")

    for rec in diag[diag["code"].isin(["LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"])].to_dict("records"):
        code = "unused-macro" if rec["code"] == "LOAD_UNUSED_MACRO" else "unused-list"
        what = code.split("-")[1]
        add(code, rec["item"], f"{what} '{rec['item']}' is not used by any rule or macro",
            (rec["file"], int(rec["line"]), 1))

    for rec in ruleset.rules.to_dict("records"):
        if rec["source"] != "syscall" or not rec["warn_evttypes"] or rec["expanded_condition"] is None \
                or not rec["valid"]:  # with a broken macro the set is unknown; the macro error says why
            continue
        evts = rec["evt_types"]
        if evts is None or len(evts) > MAX_EVT_TYPES:
            parts = ruleset.condition_sources.get(("rule", rec["name"])) or [(rec["file"], rec["line"], "")]
            count = "all event types" if evts is None else f"{len(evts)} event types"
            add("no-evttype", rec["name"], f"rule '{rec['name']}' matches {count}: Falco warns (LOAD_NO_EVTTYPE) "
                "and evaluates it on every event; restrict it with evt.type", loc.locate(parts, 0),
                bool(rec["enabled"]), suggestion="evt.type in (...) and ...")

    kept = []
    for f in out:
        if cfg.enabled(f.code) and not cfg.excluded(f.code, f.rule):
            f.severity = cfg.severity.get(f.code, LINTS[f.code].severity)
            kept.append(f)
    df = findings_frame(kept, LINTS)
    return df.sort_values(["file", "line", "column", "code"], kind="stable", ignore_index=True)
