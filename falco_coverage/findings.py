"""The findings model shared by rule-loading diagnostics, ATT&CK tag checks and condition lints.

A :class:`Finding` says what is wrong (``code``), how bad it is (:class:`Severity`), about which rule
(or macro, or list) and tag, where it is written (:class:`Location`) and how to fix it. Every code
is declared once in a :class:`Registry` (the catalogue is :mod:`falco_coverage.codes`); the modules
that find things attach their functions to it: a per-subject *check* (one rule, one condition) and,
for what needs every subject at once, a *finalizer* run after the last one. A :class:`Policy`
(the user's configuration) switches codes off, changes their severity, or excludes rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple, Protocol

import pandas as pd


class Location(NamedTuple):
    """Where something is written: a file, a 1-based line (0: unknown) and optionally a 1-based column."""

    file: str
    line: int
    column: int | None = None

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")


@functools.total_ordering
class Severity(Enum):
    """How bad a finding is. Ordered: ``INFO < WARNING < ERROR``; the value is the lower-case name."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    @property
    def sarif(self) -> str:
        """The SARIF 2.1.0 ``level``."""
        return {"error": "error", "warning": "warning", "info": "note"}[self.value]

    @property
    def github(self) -> str:
        """The GitHub Actions workflow command (``::error``, ``::warning``, ``::notice``)."""
        return {"error": "error", "warning": "warning", "info": "notice"}[self.value]

    @property
    def plural(self) -> str:
        return {"error": "errors", "warning": "warnings", "info": "info"}[self.value]

    @classmethod
    def parse(cls, text: str | Severity) -> Severity:
        """``"warning"`` -> ``Severity.WARNING``; ValueError naming the choices otherwise."""
        if isinstance(text, Severity):
            return text
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            raise ValueError(f"{text!r} is not a severity (one of {', '.join(SEVERITIES)})") from None


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
#: severity values, worst first: the order of the ``severity`` categorical in every findings frame
SEVERITIES: tuple[str, ...] = tuple(s.value for s in sorted(Severity, reverse=True))


@dataclass
class Finding:
    """One finding. ``severity`` is filled in from the registry and the policy when it is kept."""

    code: str
    rule: str
    message: str
    location: Location
    tag: str | None = None
    technique_id: str | None = None
    tactic: str | None = None
    suggestion: str | None = None
    enabled: bool = True
    severity: Severity | None = None


class Policy(Protocol):
    """What a configuration decides about each code (see :class:`falco_coverage.config.CheckConfig`)."""

    def enabled(self, code: str) -> bool: ...

    def excluded(self, code: str, rule: str) -> bool: ...

    def severity_of(self, code: str, default: Severity) -> Severity: ...


CheckFunc = Callable[[Any, Any], Iterable[Finding]]
FinalizeFunc = Callable[[Any], Iterable[Finding]]


@dataclass
class Spec:
    """A finding code: its family (``load``, ``tag`` or ``lint``), default severity, one-line summary,
    whether ``fix`` can mend it, and the functions that find it."""

    code: str
    kind: str
    severity: Severity
    summary: str
    fixable: bool = False
    #: for a finer load code (a sub-code): the Falco code it refines, e.g. LOAD_ERR_VALIDATE
    parent: str | None = None
    check: CheckFunc | None = None
    finalize: FinalizeFunc | None = None


@dataclass
class Registry:
    """Every finding code, in catalogue order."""

    specs: dict[str, Spec] = field(default_factory=dict)

    def declare(self, code: str, kind: str, severity: str, summary: str, *, fixable: bool = False,
                parent: str | None = None) -> None:
        if code in self.specs:
            raise ValueError(f"finding code {code!r} declared twice")
        if parent is not None and parent not in self.specs:
            raise ValueError(f"finding code {code!r} refines {parent!r}, which is not declared")
        self.specs[code] = Spec(code, kind, Severity.parse(severity), summary, fixable, parent)

    def __getitem__(self, code: str) -> Spec:
        return self.specs[code]

    def __contains__(self, code: object) -> bool:
        return code in self.specs

    def codes(self, kind: str | None = None) -> list[str]:
        """Codes of one family (all when ``kind`` is None), in catalogue order."""
        return [c for c, s in self.specs.items() if kind is None or s.kind == kind]

    def of_kind(self, kind: str) -> dict[str, Spec]:
        return {c: s for c, s in self.specs.items() if s.kind == kind}

    def check(self, code: str) -> Callable[[CheckFunc], CheckFunc]:
        """Decorator: ``func(subject, context)`` yields the findings of ``code`` for one subject."""
        def attach(func: CheckFunc) -> CheckFunc:
            self.specs[code].check = func
            return func
        return attach

    def finalizer(self, code: str) -> Callable[[FinalizeFunc], FinalizeFunc]:
        """Decorator: ``func(context)`` yields the findings of ``code`` that need every subject at once."""
        def attach(func: FinalizeFunc) -> FinalizeFunc:
            self.specs[code].finalize = func
            return func
        return attach

    def run(self, kind: str, subjects: Iterable[Any], context: Any, policy: Policy) -> list[Finding]:
        """Run every enabled check of ``kind`` on each subject, then the finalizers; apply ``policy``."""
        specs = [s for s in self.of_kind(kind).values() if policy.enabled(s.code)]
        per_subject = [s for s in specs if s.check is not None]
        found: list[Finding] = []
        for subject in subjects:
            for spec in per_subject:
                found.extend(spec.check(subject, context))  # type: ignore[misc]
        for spec in specs:
            if spec.finalize is not None:
                found.extend(spec.finalize(context))
        return self.keep(found, policy)

    def keep(self, found: Iterable[Finding], policy: Policy) -> list[Finding]:
        """The findings ``policy`` keeps, with their severity set."""
        kept = []
        for f in found:
            spec = self.specs[f.code]
            if policy.enabled(f.code) and not policy.excluded(f.code, f.rule):
                f.severity = policy.severity_of(f.code, spec.severity)
                kept.append(f)
        return kept


class DefaultPolicy:
    """Every code on, at its default severity, for every rule."""

    def enabled(self, code: str) -> bool:
        return True

    def excluded(self, code: str, rule: str) -> bool:
        return False

    def severity_of(self, code: str, default: Severity) -> Severity:
        return default


def findings_frame(findings: Iterable[Finding], codes: Iterable[str]) -> pd.DataFrame:
    """The findings table (columns in :mod:`falco_coverage.columns`); ``code`` categorical over ``codes``."""
    from .columns import conform

    rows = [(f.rule, f.code, f.severity.value if f.severity else None, f.tag, f.technique_id, f.tactic, f.message,
             f.suggestion, f.location.file, f.location.line or None, f.location.column, f.enabled)
            for f in findings]
    df = pd.DataFrame(rows, columns=["rule", "code", "severity", "tag", "technique_id", "tactic", "message",
                                     "suggestion", "file", "line", "column", "enabled"])
    df["severity"] = pd.Categorical(df["severity"], categories=list(SEVERITIES), ordered=True)
    df["code"] = pd.Categorical(df["code"], categories=list(codes))
    return conform(df, "findings")


def overview(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings counted per code (rows, registry order) and severity (columns), with a total."""
    table = pd.crosstab(findings["code"], findings["severity"], dropna=False)
    present = set(findings["code"].astype(str))
    table = table.reindex(index=[c for c in findings["code"].cat.categories if c in present],
                          columns=list(SEVERITIES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.index.name, table.columns.name = "code", None
    return table


def iter_records(findings: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The rows of a findings frame as plain Python values (None for missing, str for categoricals)."""
    for rec in findings.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)):
                clean[k] = None
            elif hasattr(v, "item"):
                clean[k] = v.item()
            else:
                clean[k] = str(v) if k in ("severity", "code") else v
        yield clean
