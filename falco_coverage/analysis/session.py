"""A request opened: its rules, ATT&CK release and configuration loaded once, each answer computed once.

::

    from falco_coverage.analysis.session import Session

    s = Session(rules=["/etc/falco/falco_rules.yaml"], scope={"maturities": ["stable"]})
    s.coverage(), s.check(), s.lint(), s.suggest(), s.summary(name="prod")

The command line, the report runner, the notebooks and the explorer all build one
:class:`falco_coverage.request.Request` and open it here, so every page of a report and its
``summary.json`` are computed from the same request. The functions underneath (``coverage``,
``check``, ``lint``, ``observed``, ``suggest``, ``build_summary``) stay the lower layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FalcoCoverageError
from ..request import Request, Scope

if TYPE_CHECKING:
    import pandas as pd

    from ..alerts import AlertSet
    from ..attack import AttackData
    from ..config import CheckConfig
    from ..rules import RuleSet
    from .coverage.compute import Coverage
    from .observed import Observed


class Session:
    """One :class:`Request`, opened. Loading happens on first use; every answer is memoised."""

    def __init__(self, request: Request | Mapping[str, Any] | None = None, /, **given: Any) -> None:
        """Open ``request`` as it is, or build one (:meth:`Request.build`: the configuration file of
        the working directory is found) from a mapping and keyword values."""
        if isinstance(request, Request) and not given:
            self.request = request
        else:
            start = request.to_dict() if isinstance(request, Request) else dict(request or {})
            self.request = Request.build(**{**start, **given})
        self._memo: dict[tuple[Any, ...], Any] = {}

    # --- what is loaded once ----------------------------------------------------------------------
    @cached_property
    def rule_paths(self) -> list[str]:
        """The rule files and directories loaded (the installed rules or the example set when none were named)."""
        from ..rules.paths import resolve_rules

        return resolve_rules(list(self.request.rules))

    @property
    def example(self) -> bool:
        """Whether the shipped example rules are what is analysed (none named, none installed)."""
        from ..rules.paths import example_rules, uses_example_rules

        if uses_example_rules(list(self.request.rules)):
            return True
        try:
            return [Path(p).resolve() for p in self.request.rules] == [example_rules().resolve()]
        except FalcoCoverageError:
            return False

    @cached_property
    def ruleset(self) -> RuleSet:
        """The rules as Falco resolves them. A file that is no readable rules file at all, or a
        directory with no rules file, is a :class:`FalcoCoverageError` (bad input), not a finding."""
        from ..rules import load_rules
        from ..rules.load import expand_paths

        for given in [*self.request.base, *self.rule_paths]:
            path = Path(given).expanduser()
            if path.is_dir() and not expand_paths([path]):
                raise FalcoCoverageError("no rule files found (*.yaml, *.yml) in this directory", file=path)
        ruleset = load_rules(*self.rule_paths, base=list(self.request.base), falco_version=self.request.falco_version)
        if ruleset.unreadable:
            d = ruleset.diagnostics
            fatal = d[d["file"].isin(ruleset.unreadable) & (d["severity"] == "error")].iloc[0]
            more = f" (and {len(ruleset.unreadable) - 1} more unreadable file(s))" if len(ruleset.unreadable) > 1 else ""
            raise FalcoCoverageError(f"not a readable Falco rules file: {fatal['sub_code']}: {fatal['message']}{more}",
                                     file=fatal["file"], line=int(fatal["line"]) or None)
        return ruleset

    @cached_property
    def attack(self) -> AttackData:
        from ..attack import load_attack

        return load_attack(self.request.attack, version=self.request.attack_version, cache=self.request.cache)

    @cached_property
    def config(self) -> CheckConfig:
        from ..config import CheckConfig, load_config

        return load_config(self.request.config) if self.request.config else CheckConfig()

    def load(self) -> Session:
        """Load the rules, then ATT&CK, then the configuration: the first bad input is the error said."""
        for loaded in ("ruleset", "attack", "config"):
            getattr(self, loaded)
        return self

    # --- answers ------------------------------------------------------------------------------------
    def _once(self, key: tuple[Any, ...], make: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def coverage(self, scope: Scope | Mapping[str, Any] | None = None) -> Coverage:
        """Coverage in the request's scope (or ``scope``)."""
        from .coverage.compute import coverage

        sc = Scope.of(scope) if scope is not None else self.request.scope
        result: Coverage = self._once(("coverage", sc), lambda: coverage(self.ruleset, self.attack, sc,
                                                                         config=self.config))
        return result

    def check(self, *, suggest: bool = True, include_load: bool = True, also: AttackData | None = None) -> pd.DataFrame:
        """Tag findings (and Falco's load diagnostics) of the user's files."""
        from .tags.checks import check

        found: pd.DataFrame = self._once(
            ("check", suggest, include_load, id(also)),
            lambda: check(self.ruleset, self.attack, config=self.config, suggest=suggest, include_load=include_load,
                          also=also))
        return found

    def lint(self, *, inline_list_min: int | None = None) -> pd.DataFrame:
        """Condition findings of the user's files."""
        from .tags.lint import lint

        kw = {} if inline_list_min is None else {"inline_list_min": inline_list_min}
        found: pd.DataFrame = self._once(("lint", inline_list_min), lambda: lint(self.ruleset, config=self.config, **kw))
        return found

    def findings(self) -> pd.DataFrame:
        """Every finding a summary counts: tag checks (load errors included) and lints."""
        import pandas as pd

        found, linted = self.check(suggest=False), self.lint()
        return pd.concat([found, linted], ignore_index=True) if len(linted) else found

    def alerts(self) -> AlertSet:
        """The request's alerts, read once within its window."""
        from ..alerts import load_alerts

        r = self.request
        if not r.has_alerts:
            raise FalcoCoverageError("this request names no alerts (give --alerts PATH or --prometheus URL)")
        result: AlertSet = self._once(("alerts",), lambda: load_alerts(*r.alerts, since=r.since, until=r.until,
                                                                      prometheus=r.prometheus, window=r.window))
        return result

    def observed(self, *, noisy_share: float = 0.1) -> Observed:
        """What fired, joined to the rule set (rules of the scope's enabled state)."""
        from .observed import observed

        result: Observed = self._once(("observed", noisy_share), lambda: observed(
            self.ruleset, self.alerts().alerts, noisy_share=noisy_share,
            enabled_only=not self.request.scope.include_disabled))
        return result

    def suggest(self, *, top: int = 3, only: Iterable[str] | None = None) -> pd.DataFrame:
        """Ranked technique suggestions for the rules (or the rules named in ``only``)."""
        from .suggest.ranking import suggest

        names = tuple(sorted(only)) if only is not None else None
        found: pd.DataFrame = self._once(("suggest", top, names), lambda: suggest(
            self.ruleset, self.attack, top=top, only=names, source_platforms=dict(self.config.source_platforms)))
        return found

    def summary(self, *, name: str | None = None, generated: str | None = None) -> dict[str, Any]:
        """The run's summary (``summary.json``): the same numbers every page of a report shows."""
        from .summary.runs import build_summary

        stamp = generated or datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        label = name or (Path(self.rule_paths[0]).stem if self.rule_paths else "rules")
        seen = self.observed() if self.request.has_alerts else None
        return build_summary(self.ruleset, self.attack, self.coverage(), self.findings(), name=label,
                             generated=stamp, rule_files=[*self.request.base, *self.rule_paths], observed=seen)

    # --- other sessions over the same data ----------------------------------------------------------
    def with_scope(self, scope: Scope | Mapping[str, Any] | None = None, **values: Any) -> Session:
        """The same rules, release and configuration (not loaded again) in another scope."""
        other = Session(Request.from_dict({**self.request.to_dict(),
                                           "scope": Scope.of(scope or self.request.scope, **values).__dict__}))
        other.__dict__["_memo"] = {k: v for k, v in self._memo.items() if k[0] in ("check", "lint", "suggest",
                                                                                   "alerts")}
        for loaded in ("rule_paths", "ruleset", "attack", "config"):
            if loaded in self.__dict__:
                other.__dict__[loaded] = self.__dict__[loaded]
        return other

    def compare_side(self) -> Session:
        """The BEFORE side of the request's comparison: its other rules (else the same ones, over the
        same base files) and its other ATT&CK release (else the same one), in the same scope and
        configuration."""
        r = self.request
        if not r.has_compare:
            raise FalcoCoverageError("this request names nothing to compare with (give --compare-with or "
                                     "--compare-attack[-version])")
        # the base (upstream) files load first on both sides
        other = Request.from_dict({**r.to_dict(), "rules": list(r.compare_rules or r.rules),
                                   "attack": r.compare_attack if (r.compare_attack or r.compare_attack_version) else r.attack,
                                   "attack_version": r.compare_attack_version if (r.compare_attack or r.compare_attack_version)
                                   else r.attack_version, "compare_rules": [], "compare_attack": None,
                                   "compare_attack_version": None})
        side = Session(other)
        if not r.compare_rules:  # the same rules under another release: loaded once, here
            side.__dict__["rule_paths"], side.__dict__["ruleset"] = self.rule_paths, self.ruleset
        side.__dict__["config"] = self.config
        return side

    # --- how it shows -------------------------------------------------------------------------------
    def _facts(self) -> list[tuple[str, str]]:
        r = self.request
        facts = [("rules", ", ".join(Path(p).name for p in (*r.base, *self.rule_paths)) or "none"),
                 ("ATT&CK", self.attack.describe() if "attack" in self.__dict__ else
                  (r.attack or f"version {r.attack_version or 'built-in default'}") + " (not loaded yet)")]
        if "ruleset" in self.__dict__:
            rs = self.ruleset
            facts.append(("loaded", f"{len(rs.rules)} rules, {len(rs.macros)} macros, {len(rs.lists)} lists, "
                                    f"{len(rs.own_errors)} load errors"))
        facts.append(("scope", r.scope.describe() or "every enabled rule, the platforms its sources observe"))
        if r.config:
            facts.append(("config", r.config))
        if r.alerts:
            facts.append(("alerts", ", ".join(Path(p).name for p in r.alerts)))
        return facts

    def __repr__(self) -> str:
        from ..display import facts_text

        return facts_text("Session", self._facts())

    def _repr_html_(self) -> str:
        from ..display import facts_html

        return facts_html("falco-coverage session", self._facts())
