"""The loaded rules as DataFrames: :class:`RuleSet`, built from the compiled definitions.

Per rule it also works out what Falco computes at start-up: the fully macro-expanded condition,
the event types it can match (Falco's set arithmetic over ``evt.type``), the fields it reads and
the macros and lists it uses. Column meanings and dtypes: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..codes import MAX_EVT_TYPES
from ..columns import conform
from ..findings import Location
from .collector import Collector, Definition
from .decode import PRIORITIES
from .fieldcheck import FieldChecker
from .nodes import MacroRef, Node, children, evt_types, expand, falco_text, fields, macro_refs, to_text
from .tags import split_tags

#: errors found when Falco compiles the loaded items (after reading every file)
COMPILE_CODES = ("LOAD_ERR_COMPILE_CONDITION", "LOAD_ERR_COMPILE_OUTPUT", "ERROR_UNDEFINED_MACRO", "ERROR_MACRO_LOOP",
                 "ERROR_EXCEPTION_FIELD", "condition-too-large")
#: where a rule comes from when some files are loaded as the base
ORIGINS = ("own", "base")


@dataclass(eq=False, repr=False)
class RuleSet:
    """Resolved rules, macros and lists of several files, and the diagnostics of loading them.
    Two rule sets are equal only when they are the same object (compare their frames to compare content)."""

    rules: pd.DataFrame
    macros: pd.DataFrame
    lists: pd.DataFrame
    diagnostics: pd.DataFrame
    files: pd.DataFrame
    required_engine_version: str | None = None
    required_plugin_versions: list[dict[str, Any]] = field(default_factory=list)
    #: files loaded as the base under the user's own (``load_rules(..., base=...)``)
    base_files: list[str] = field(default_factory=list)
    #: ("rule" | "macro" | "list", name) -> the compiled definition (condition pieces, AST, facts)
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict, repr=False)

    def _facts(self) -> list[tuple[str, str]]:
        files = list(self.files["file"]) if "file" in self.files else []
        shown = ", ".join(f.rsplit("/", 1)[-1] for f in files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4
                                                                       else "")
        enabled = int(self.rules["enabled"].sum()) if len(self.rules) else 0
        facts = [("files", shown or "none"),
                 ("rules", f"{len(self.rules)} ({enabled} enabled)"),
                 ("macros, lists", f"{len(self.macros)}, {len(self.lists)}"),
                 ("load errors", str(int((self.diagnostics["severity"] == "error").sum()))),
                 ("warnings", str(int((self.diagnostics["severity"] == "warning").sum())))]
        if self.base_files:
            facts.insert(1, ("base files", str(len(self.base_files))))
        return facts

    def __repr__(self) -> str:
        from ..display import facts_text

        return facts_text("RuleSet", self._facts())

    def _repr_html_(self) -> str:
        from ..display import facts_html

        return facts_html("Falco rule set", self._facts())

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

    def is_own(self, file: str | None) -> bool:
        """Whether ``file`` is one of the user's own files (not loaded as the base)."""
        return file is not None and file not in self.base_files

    @property
    def falco_errors(self) -> pd.DataFrame:
        """The errors Falco itself would print: it stops compiling at the first list, macro or rule
        that fails, so of the compile errors (all of which are in ``errors``) only the first."""
        errors = self.errors
        compile_stage = errors["code"].isin(COMPILE_CODES) | errors["sub_code"].isin(COMPILE_CODES)
        later = compile_stage & (compile_stage.cumsum() > 1)
        return errors[~later].reset_index(drop=True)

    @property
    def own_errors(self) -> pd.DataFrame:
        """The load errors in the user's own files (all of them when nothing was loaded as the base)."""
        errors = self.errors
        return errors[~errors["file"].isin(self.base_files)].reset_index(drop=True)

    @property
    def rejected_rules(self) -> list[str]:
        """Rules Falco would drop or refuse: invalid ones and rule items rejected whole, by name."""
        d = self.diagnostics
        rejected = d.loc[(d["severity"] == "error") & (d["kind"] == "rule"), "item"].dropna()
        return sorted(set(self.rules.loc[~self.rules["valid"], "name"]) | set(rejected))

    @property
    def schema_status(self) -> str:
        """``ok``, or ``failed`` when an item breaks Falco's rules-file schema (``schema`` warnings)."""
        return "failed" if (self.diagnostics["code"] == "schema").any() else "ok"

    def falco_compiled(self, kind: str, name: str) -> str | None:
        """A rule's or macro's condition as Falco prints it compiled: lists substituted, exceptions
        added, macros expanded, every ``and``/``or`` in parentheses; None when it does not compile."""
        d = self.definitions[(kind, name)]
        if d.ast is None:
            return None
        macros = {m.name: m.ast for (k, _), m in self.definitions.items() if k == "macro" and m.ast is not None}
        return falco_text(expand(d.ast, macros))

    def definition(self, kind: str, name: str) -> Definition:
        """The compiled record of a rule, macro or list; KeyError when there is none."""
        return self.definitions[(kind, name)]


#: a condition whose macros expand past this many nodes is refused, not expanded (a macro bomb:
#: 31 macros each using the previous twice expand to 2**31 nodes)
MAX_EXPANDED_NODES = 100_000


class _Analysis:
    """Per-rule facts derived from the compiled definitions of one load, and what Falco says about
    them when it compiles the rules: unknown sources, unknown fields, rules matching every event."""

    def __init__(self, col: Collector, checker: FieldChecker | None = None,
                 sources: frozenset[str] | None = None) -> None:
        self.col = col
        self.checker = checker
        self.sources = sources
        self.macros = col.defs["macro"]
        self.macro_ast: dict[str, Node] = {m.name: m.ast for m in self.macros.values() if m.ast is not None}
        self.list_order = {n: i for i, n in enumerate(col.defs["list"])}
        self.sizes: dict[str, int] = {}
        self.refs: dict[str, list[str]] = {name: [n for n, _ in macro_refs(ast)] for name, ast in self.macro_ast.items()}

    def size(self, node: Node, stack: tuple[str, ...] = ()) -> int:
        """Nodes ``node`` expands to (capped just past the limit), memoised per macro."""
        total = 0
        pending = [node]
        while pending and total <= MAX_EXPANDED_NODES:
            n = pending.pop()
            if isinstance(n, MacroRef) and n.name in self.macro_ast and n.name not in stack:
                if n.name not in self.sizes:
                    self.sizes[n.name] = self.size(self.macro_ast[n.name], stack + (n.name,))
                total += self.sizes[n.name]
                continue
            total += 1
            pending.extend(children(n))
        return min(total, MAX_EXPANDED_NODES + 1)

    def chain(self, node: Node) -> list[str]:
        """The macros along the largest expansion under ``node``: where a bomb comes from."""
        out: list[str] = []
        while True:
            refs = [name for name, _ in macro_refs(node) if name in self.macro_ast and name not in out]
            if not refs:
                return out
            biggest = max(refs, key=lambda r: self.sizes.get(r, 0))
            out.append(biggest)
            node = self.macro_ast[biggest]

    def __call__(self, r: Definition) -> tuple[str | None, list[str] | None, list[str], list[str], list[str]]:
        """expanded_condition, evt_types (None: unrestricted or not a syscall rule), fields, macros, lists."""
        try:
            return self._analyse(r)
        except RecursionError:  # a chain of thousands of macros, each calling the next
            self.col.diags.add("condition-too-large", "the condition's macros call each other thousands of levels "
                               "deep; Falco would exhaust its stack compiling it", r.name,
                               r.pieces[0].location if r.pieces else r.location, "rule")
            r.valid = False
            return None, None, [], [], []

    def _analyse(self, r: Definition) -> tuple[str | None, list[str] | None, list[str], list[str], list[str]]:
        source = r.fields["source"]
        if self.sources is not None and source not in self.sources:
            self.col.diags.add("LOAD_UNKNOWN_SOURCE", f"Unknown source {source}, skipping", r.name, r.location, "rule")
            r.valid = False
        if r.ast is None:
            return None, None, [], [], []
        used: list[str] = []
        seen: set[str] = set()
        pending = [n for n, _ in macro_refs(r.ast)]
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self.macros:
                continue
            seen.add(name)
            used.append(name)
            pending.extend(self.refs.get(name, ()))
        lists = set(r.lists_used).union(*(self.macros[m].lists_used for m in used))
        ordered_lists = sorted(lists, key=self.list_order.__getitem__)
        if self.size(r.ast) > MAX_EXPANDED_NODES:
            chain = self.chain(r.ast)
            self.col.diags.add("condition-too-large", f"the condition expands past {MAX_EXPANDED_NODES:,} nodes "
                               f"through the macros {' -> '.join(chain[:8])}{' -> ...' if len(chain) > 8 else ''}; "
                               "Falco would exhaust its memory compiling it", r.name,
                               r.pieces[0].location if r.pieces else r.location, "rule")
            r.valid = False
            return None, None, [], used, ordered_lists
        if r.valid and self.checker is not None and not self.checker(
                r, r.ast, [(m, self.macro_ast[m]) for m in used if m in self.macro_ast]):
            r.valid = False
        full = expand(r.ast, self.macro_ast)
        evts = None
        if source == "syscall":
            s = evt_types(full)
            evts = None if s.neg else sorted(s.items)
            if r.valid and r.fields["warn_evttypes"] and (evts is None or len(evts) > MAX_EVT_TYPES):
                self.col.diags.add("LOAD_NO_EVTTYPE", "Rule matches too many evt.type values. This has a significant "
                                   "performance penalty.", r.name, r.pieces[0].location if r.pieces else r.location,
                                   "rule")
        return to_text(full), evts, fields(full), used, ordered_lists


def _in_order(defs: dict[str, Definition]) -> list[Definition]:
    return sorted(defs.values(), key=lambda d: d.index)


def rules_frame(col: Collector, checker: FieldChecker | None = None,
                sources: frozenset[str] | None = None) -> pd.DataFrame:
    analyse = _Analysis(col, checker, sources)
    rows = []
    for r in _in_order(col.defs["rule"]):
        f = r.fields
        split = split_tags(f["tags"])
        rows.append((
            r.name, f["desc"], f["condition"], r.compiled, *analyse(r), f["output"], f["priority"], f["source"],
            bool(f["enabled"]), bool(f["warn_evttypes"]), bool(f["skip-if-unknown-filter"]), bool(f["capture"]),
            int(f["capture_duration"]), list(f["tags"]),
            [r.tag_locations.get(t, r.location) for t in f["tags"]], split.maturity, split.tactics,
            split.techniques, split.other, [dict(e) for e in f["exceptions"]], r.location.file, r.location.line,
            list(r.changed_at), r.valid, r.origin(col.base_files), list(r.ignored_keys),
        ))
    df = pd.DataFrame(rows, columns=[
        "name", "desc", "condition", "compiled_condition", "expanded_condition", "evt_types", "fields",
        "macros_used", "lists_used", "output", "priority", "source", "enabled", "warn_evttypes",
        "skip_if_unknown_filter", "capture", "capture_duration", "tags", "tag_locations", "maturity", "tactic_tags", "technique_tags", "other_tags", "exceptions", "file", "line",
        "changed_at", "valid", "origin", "ignored_keys"])
    df["priority"] = pd.Categorical(df["priority"], categories=PRIORITIES, ordered=True)
    df["origin"] = pd.Categorical(df["origin"], categories=list(ORIGINS))
    return conform(df, "rules.rules")


def macros_frame(col: Collector) -> pd.DataFrame:
    rows = [(m.name, m.condition, m.compiled if m.compiled is not None else m.condition, m.location.file,
             m.location.line, list(m.changed_at), m.used) for m in _in_order(col.defs["macro"])]
    df = pd.DataFrame(rows, columns=["name", "condition", "compiled_condition", "file", "line", "changed_at", "used"])
    return conform(df, "rules.macros")


def lists_frame(col: Collector, expanded: dict[str, tuple[int, list[str]]]) -> pd.DataFrame:
    rows = [(lst.name, list(expanded.get(lst.name, (0, lst.fields["items"]))[1]), lst.location.file,
             lst.location.line, list(lst.changed_at), lst.used) for lst in _in_order(col.defs["list"])]
    df = pd.DataFrame(rows, columns=["name", "items", "file", "line", "changed_at", "used"])
    return conform(df, "rules.lists")


def files_frame(col: Collector) -> pd.DataFrame:
    rows = [(s.file, s.loaded, s.base, s.n_rules, s.n_macros, s.n_lists, s.constructs) for s in col.files]
    df = pd.DataFrame(rows, columns=["file", "loaded", "base", "n_rules", "n_macros", "n_lists", "constructs"])
    return conform(df, "rules.files")


def build(col: Collector, expanded: dict[str, tuple[int, list[str]]], checker: FieldChecker | None = None,
          sources: frozenset[str] | None = None) -> RuleSet:
    """The RuleSet of a finished load: rules checked (``checker``: fields; ``sources``: the event
    sources Falco has loaded, None for all), then the unused-item warnings."""
    rules = rules_frame(col, checker, sources)
    for kind, code, what in (("list", "LOAD_UNUSED_LIST", "List"), ("macro", "LOAD_UNUSED_MACRO", "Macro")):
        for d in col.defs[kind].values():
            if not d.used:
                col.diags.add(code, f"{what} not referred to by any other rule/macro", d.name,
                              Location(d.location.file, d.location.line), kind)
    return RuleSet(
        rules=rules, macros=macros_frame(col), lists=lists_frame(col, expanded),
        diagnostics=col.diags.frame(), files=files_frame(col),
        required_engine_version=col.engine_version, required_plugin_versions=col.plugin_versions,
        base_files=[s.file for s in col.files if s.base],
        definitions={(kind, d.name): d for kind, defs in col.defs.items() for d in defs.values()},
    )
