"""What to analyse, chosen once: the rule set, the ATT&CK release, the configuration and the scope.

A :class:`Request` is built once by every entry point (the command line, the report runner, a
notebook's parameter cell, the explorer) and handed on whole: the report runner serialises it
(:meth:`Request.to_dict`) into each notebook, so the summary and every page are computed from the
same request. It is plain data (frozen, JSON-safe); :class:`falco_coverage.analysis.session.Session`
opens it (loads the rules, ATT&CK and the configuration once) and answers the questions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import RequestError

def _strings(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return (str(value),)
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise RequestError(f"{what} must be a list of strings, not {type(value).__name__}")
    out = []
    for v in value:
        if not isinstance(v, (str, Path)):
            raise RequestError(f"{what} must be a list of strings; {v!r} is not one")
        out.append(str(v))
    return tuple(out)


_VERSION = re.compile(r"latest|[0-9]{1,3}(?:\.[0-9]{1,3}){0,2}")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+")


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    raise RequestError(f"{what} must be a string, not {type(value).__name__}")


@dataclass(frozen=True)
class Scope:
    """Which rules and techniques count. ``None``: no restriction (platforms: what the rules'
    sources observe; sensors: the rules' sources). Values are validated against the rule set and the
    release when a coverage is computed (a typo is an error naming the choices)."""

    platforms: tuple[str, ...] | None = None
    maturities: tuple[str, ...] | None = None
    min_priority: str | None = None
    sources: tuple[str, ...] | None = None
    sensors: tuple[str, ...] | None = None
    include_disabled: bool = False

    @classmethod
    def of(cls, value: Scope | Mapping[str, Any] | None = None, **given: Any) -> Scope:
        """A scope from a mapping (a notebook's or the CLI's values) and keyword arguments."""
        if isinstance(value, Scope):
            return replace(value, **given) if given else value
        data = {**dict(value or {}), **given}
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise RequestError(f"unknown scope key(s) {', '.join(map(repr, unknown))}; "
                               f"choose from {', '.join(f.name for f in fields(cls))}")
        include = data.get("include_disabled", False)
        if not isinstance(include, bool):
            raise RequestError(f"scope include_disabled must be true or false, not {include!r}")
        return cls(platforms=_strings(data.get("platforms"), "scope platforms"),
                   maturities=_strings(data.get("maturities"), "scope maturities"),
                   min_priority=_text(data.get("min_priority"), "scope min_priority"),
                   sources=_strings(data.get("sources"), "scope sources"),
                   sensors=_strings(data.get("sensors"), "scope sensors"), include_disabled=include)

    def describe(self) -> str:
        """The restrictions in words (empty: none)."""
        parts = [f"{f.name.replace('_', ' ')}: {', '.join(v) if isinstance(v, tuple) else v}"
                 for f in fields(self) if (v := getattr(self, f.name)) not in (None, False)]
        return "; ".join(parts)


@dataclass(frozen=True)
class Request:
    """What to analyse. Paths are kept as given; :meth:`resolved` makes them absolute (for a
    notebook that runs in another directory)."""

    #: rule files or directories in Falco's load order; empty: /etc/falco's rules, else the example set
    rules: tuple[str, ...] = ()
    #: files loaded first (upstream's); findings, fixes and the exit code cover only the other files
    base: tuple[str, ...] = ()
    #: an ATT&CK bundle file; ``None``: ``attack_version`` (or the built-in default) from the usual places
    attack: str | None = None
    attack_version: str | None = None
    #: a configuration file; ``None``: none (:meth:`build` looks for one in the working directory)
    config: str | None = None
    #: the Falco release fields and event types are checked against (``None``: the built-in catalogue's)
    falco_version: str | None = None
    scope: Scope = field(default_factory=Scope)
    #: Falco alert files or directories (what fired), read within ``since`` .. ``until``
    alerts: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    #: a Prometheus server's base URL to pull rule-match counts from, over ``window`` (a Prometheus duration)
    prometheus: str | None = None
    window: str | None = None
    #: the other side of a comparison: rule files, and/or an ATT&CK release (the BEFORE side)
    compare_rules: tuple[str, ...] = ()
    compare_attack: str | None = None
    compare_attack_version: str | None = None
    #: read and write the ATT&CK cache
    cache: bool = True

    def __post_init__(self) -> None:
        for key in ("attack_version", "compare_attack_version"):
            value = getattr(self, key)
            if value is not None and not _VERSION.fullmatch(value):
                raise RequestError(f"{key} {value!r} is not an ATT&CK release (e.g. 19.1, 18 or latest)")
        if self.window is not None and not _DURATION.fullmatch(self.window):
            raise RequestError(f"window {self.window!r} is not a Prometheus duration (e.g. 30d, 12h, 1h30m)")

    @classmethod
    def build(cls, *, search_dir: Path | None = None, **given: Any) -> Request:
        """A request from keyword values (lists or strings for the path fields, a mapping or
        :class:`Scope` for ``scope``); without ``config``, the configuration file found in
        ``search_dir`` (default: the working directory) is named, so every reader uses the same one."""
        from .config import find_config

        request = cls.from_dict(given)
        if request.config is None:
            found = find_config(search_dir)
            if found is not None:
                request = replace(request, config=str(found))
        return request

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Request) -> Request:
        """The request of :meth:`to_dict` (or a notebook's ``request`` mapping); unknown keys and
        wrong types are a :class:`RequestError` naming them."""
        if isinstance(data, Request):
            return data
        if not isinstance(data, Mapping):
            raise RequestError(f"a request is a mapping of its fields, not {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise RequestError(f"unknown request key(s) {', '.join(map(repr, unknown))}; choose from {', '.join(names)}")
        cache = data.get("cache", True)
        if not isinstance(cache, bool):
            raise RequestError(f"request cache must be true or false, not {cache!r}")
        return cls(
            rules=_strings(data.get("rules"), "rules") or (), base=_strings(data.get("base"), "base") or (),
            attack=_text(data.get("attack"), "attack"), attack_version=_text(data.get("attack_version"), "attack_version"),
            config=_text(data.get("config"), "config"), falco_version=_text(data.get("falco_version"), "falco_version"),
            scope=Scope.of(data.get("scope")), alerts=_strings(data.get("alerts"), "alerts") or (),
            since=_text(data.get("since"), "since"), until=_text(data.get("until"), "until"),
            prometheus=_text(data.get("prometheus"), "prometheus"), window=_text(data.get("window"), "window"),
            compare_rules=_strings(data.get("compare_rules"), "compare_rules") or (),
            compare_attack=_text(data.get("compare_attack"), "compare_attack"),
            compare_attack_version=_text(data.get("compare_attack_version"), "compare_attack_version"), cache=cache)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-safe data (lists for tuples), read back by :meth:`from_dict`."""
        def plain(v: Any) -> Any:
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        out: dict[str, Any] = plain(asdict(self))
        return out

    def resolved(self) -> Request:
        """The same request with every path absolute (the notebooks run in the output directory)."""
        def absolute(p: str | None) -> str | None:
            return str(Path(p).expanduser().resolve()) if p else p

        return replace(self, rules=tuple(str(absolute(p)) for p in self.rules),
                       base=tuple(str(absolute(p)) for p in self.base), attack=absolute(self.attack),
                       config=absolute(self.config), alerts=tuple(str(absolute(p)) for p in self.alerts),
                       compare_rules=tuple(str(absolute(p)) for p in self.compare_rules),
                       compare_attack=absolute(self.compare_attack))

    @property
    def has_alerts(self) -> bool:
        """Whether the request says what fired: alert files, or a Prometheus server."""
        return bool(self.alerts or self.prometheus)

    @property
    def has_compare(self) -> bool:
        return bool(self.compare_rules or self.compare_attack or self.compare_attack_version)

    def describe(self) -> str:
        """One line: the rule files, the release asked for, the scope."""
        rules = ", ".join(Path(p).name for p in (*self.base, *self.rules)) or "installed or example rules"
        attack = Path(self.attack).name if self.attack else f"ATT&CK {self.attack_version or 'built-in default'}"
        scope = self.scope.describe()
        return f"{rules} · {attack}" + (f" · {scope}" if scope else "")
