"""Checker configuration: a ``[tool.falco-coverage]`` table in pyproject.toml or a ``.falco-coverage.yaml``.

Keys (all optional)::

    disable = ["no-mitre-tags"]                 # codes switched off ("all" switches every code off)
    enable = ["tactic-only"]                    # codes switched back on after ``disable``
    severity = { partial-tactics = "warning" }  # error | warning | info
    exclude = { platform-mismatch = ["K8s *"] } # rule names (fnmatch patterns) per code, or "*" for all codes
    source_platforms = { my_plugin = ["Linux"] }  # extra or changed source -> ATT&CK platforms
    tag_aliases = { mitre_evasion = "mitre_stealth" }  # a tag -> the tag it stands for
    sensors = { my_plugin = { log_sources = ["saas:example"], data_components = ["Logon Session Creation"] } }
                                                # what a source observes in ATT&CK's detection model
                                                # (replaces the built-in entry of that source)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budgets import MAX_SCAN_DEPTH, line_of_offset, read_regular, too_deep
from .errors import ConfigError
from .findings import SEVERITIES, Severity
#: What each event source can observe, as ATT&CK platforms (this project's choice; configurable with
#: ``source_platforms``). Falco's own syscall source and every source of the public Falco plugin
#: registry, by what the plugin reads; an empty list: the source observes no ATT&CK platform
#: (web-server, DNS or generic message streams, development sources).
DEFAULT_SOURCE_PLATFORMS: dict[str, list[str]] = {
    "syscall": ["Linux", "Containers"],
    # plugins maintained in falcosecurity/plugins
    "k8s_audit": ["Containers"],  # k8saudit and its EKS, GKE, AKS, OVHcloud variants
    "aws_cloudtrail": ["IaaS"],
    "gcp_auditlog": ["IaaS"],
    "okta": ["Identity Provider", "SaaS"],
    "github": ["SaaS"],
    "kafka": [], "collector": [], "dummy": [], "dummy_c": [], "dummy_rs": [], "test": [],
    # third-party plugins listed in the registry
    "docker": ["Containers"],
    "seccompagent": ["Linux", "Containers"],
    "nomad": ["Containers"],
    "salesforce": ["SaaS"],
    "box": ["SaaS"],
    "journal": ["Linux"],
    "gitlab": ["SaaS"],
    "keycloak": ["Identity Provider"],
    "awselb": ["IaaS"],
    "edera_zone": ["Linux", "Containers"],
    "coding_agent": ["Linux", "macOS", "Windows"],
    "dnscollector": [], "syslogsrv": [], "nginx": [],
}




#: how much of what an ATT&CK log-source reference needs a sensor gives: all of it, part of it, none; or
#: ``channel``: judged by the system calls the reference's channel names (see the observability module)
GRADES = ("full", "partial", "none", "channel")


@dataclass(frozen=True)
class Sensor:
    """What one Falco event source observes. Names are kept as written; lookups fold case.

    A log source the sensor names is served in full unless its entry says ``partial``, ``none`` or
    ``channel``; ``by_component`` and ``channels`` refine that per data component and per channel
    text. A data component it records is served in full unless ``component_grades`` says otherwise."""

    source: str
    why: str = ""
    #: ATT&CK log source name -> why this source reads (or does not read) the same events
    log_sources: dict[str, str] = field(default_factory=dict)
    #: data component name -> why this source records it
    data_components: dict[str, str] = field(default_factory=dict)
    #: data component name -> Falco event types that record it (``*``: every event)
    evt_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: log source (folded) -> its grade when not ``full``
    grades: dict[str, str] = field(default_factory=dict)
    #: log source (folded) -> data component (folded) -> (grade, why): a component of that log graded apart
    by_component: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    #: log source (folded) -> channel text (folded) -> (grade, why): a named channel of that log graded apart
    channels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    #: data component (folded) -> (grade, why) when the sensor records it only in part
    component_grades: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: log source or data component name -> the Falco fields (or event types) that serve it, for the docs
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    _logs: frozenset[str] = field(init=False, repr=False, compare=False)
    _components: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_logs", frozenset(n.casefold() for n in self.log_sources))
        object.__setattr__(self, "_components", frozenset(n.casefold() for n in self.data_components))

    def names_log(self, log_source: Any) -> bool:
        """Whether the profile says anything of ``log_source`` for this sensor (read or not)."""
        return isinstance(log_source, str) and log_source.casefold() in self._logs

    def reads(self, log_source: Any) -> bool:
        """Whether this source reads (some of) the events of the ATT&CK log source named ``log_source``."""
        return self.names_log(log_source) and self.grades.get(log_source.casefold(), "full") != "none"

    def records(self, component: Any) -> bool:
        """Whether this source records the data component named ``component``."""
        return isinstance(component, str) and component.casefold() in self._components

    def component_evt_types(self, component: str) -> tuple[str, ...]:
        """The Falco event types that record ``component`` (empty when the profile does not say)."""
        for name, types in self.evt_types.items():
            if name.casefold() == component.casefold():
                return types
        return ()


def _strings(value: Any, what: str, origin: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ConfigError(f"sensors: {what} must be a list of names", file=origin)
    return tuple(value)


def _grade(entry: Mapping[str, Any], name: str, origin: str) -> str:
    grade = entry.get("grade", "full")
    if grade not in GRADES:
        raise ConfigError(f"sensors: grade of '{name}' must be one of {', '.join(GRADES)}, not {grade!r}", file=origin)
    return str(grade)


def _graded(value: Any, name: str, origin: str) -> dict[str, tuple[str, str]]:
    """``{name: {grade, why}}`` (folded names) for an entry's ``components`` or ``channels``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigError(f"sensors: components and channels of '{name}' must map names to {{grade, why}}",
                          file=origin)
    return {str(k).casefold(): (_grade(v, str(k), origin), str(v.get("why", ""))) for k, v in value.items()}


@dataclass
class _Profile:
    """One sensor's entries as parsed, before they become a :class:`Sensor`."""

    whys: dict[str, str] = field(default_factory=dict)
    evts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    grades: dict[str, str] = field(default_factory=dict)
    by_component: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    channels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def take(self, name: str, entry: Mapping[str, Any], origin: str) -> None:
        unknown = set(entry) - {"why", "grade", "evt_types", "fields", "components", "channels"}
        if unknown:
            raise ConfigError(f"sensors: '{name}' has unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                              file=origin)
        self.whys[name] = str(entry.get("why", ""))
        if entry.get("evt_types"):
            self.evts[name] = _strings(entry["evt_types"], f"evt_types of '{name}'", origin)
        if entry.get("fields"):
            self.fields[name] = _strings(entry["fields"], f"fields of '{name}'", origin)
        grade = _grade(entry, name, origin)
        if grade != "full":
            self.grades[name.casefold()] = grade
        if entry.get("components"):
            self.by_component[name.casefold()] = _graded(entry["components"], name, origin)
        if entry.get("channels"):
            self.channels[name.casefold()] = _graded(entry["channels"], name, origin)


def _names(value: Any, what: str, origin: str) -> _Profile:
    """``[name, ...]`` or ``{name: why}`` or ``{name: {why, grade, evt_types, fields, components, channels}}``."""
    out = _Profile()
    if value is None:
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out.whys = {v: "" for v in value}
        return out
    if not isinstance(value, dict):
        raise ConfigError(f"sensors: '{what}' must be a list of names or a mapping of name -> why", file=origin)
    for name, entry in value.items():
        if isinstance(entry, dict):
            out.take(str(name), entry, origin)
        elif entry is None or isinstance(entry, str):
            out.whys[str(name)] = entry or ""
        else:
            raise ConfigError(f"sensors: '{name}' under '{what}' must be a sentence saying why", file=origin)
    return out


def parse_profile(data: Mapping[str, Any], origin: str) -> dict[str, Sensor]:
    """Sources of a profile mapping (the shape of ``builtin/sensors.yaml``); ConfigError on anything else."""
    if not isinstance(data, Mapping):
        raise ConfigError("sensors: must map event sources to what they observe", file=origin)
    out: dict[str, Sensor] = {}
    for source, entry in data.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"sensors: '{source}' must be a mapping with log_sources and data_components",
                              file=origin)
        unknown = set(entry) - {"why", "log_sources", "data_components"}
        if unknown:
            raise ConfigError(f"sensors: '{source}' has unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                              file=origin)
        logs = _names(entry.get("log_sources"), "log_sources", origin)
        comps = _names(entry.get("data_components"), "data_components", origin)
        component_grades = {k: (g, comps.whys[n]) for n in comps.whys for k, g in [(n.casefold(),
                                                                                    comps.grades.get(n.casefold()))]
                            if g is not None}
        out[str(source)] = Sensor(str(source), str(entry.get("why") or ""), logs.whys, comps.whys, comps.evts,
                                  logs.grades, logs.by_component, logs.channels, component_grades,
                                  {**logs.fields, **comps.fields, **{k: v for k, v in logs.evts.items()}})
    return out


@dataclass
class CheckConfig:
    """Which finding codes run, at which severity, for which rules; and what each source observes."""

    disabled: set[str] = field(default_factory=set)
    severity: dict[str, str] = field(default_factory=dict)
    exclude: dict[str, list[str]] = field(default_factory=dict)
    source_platforms: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_SOURCE_PLATFORMS))
    #: tag -> the tag it stands for (e.g. a team's own spelling, or an old name during a transition)
    tag_aliases: dict[str, str] = field(default_factory=dict)
    #: source -> what it observes, replacing the built-in sensor profile's entry
    sensors: dict[str, Sensor] = field(default_factory=dict)

    def enabled(self, code: str) -> bool:
        return code not in self.disabled

    def excluded(self, code: str, rule: str) -> bool:
        patterns = self.exclude.get(code, []) + self.exclude.get("*", [])
        return any(fnmatch.fnmatchcase(rule, p) for p in patterns)

    def severity_of(self, code: str, default: Severity) -> Severity:
        return Severity.parse(self.severity[code]) if code in self.severity else default

    @classmethod
    def from_mapping(cls, data: dict[str, Any], known_codes: set[str], origin: str = "config") -> CheckConfig:
        """Validate a settings mapping (the keys of the module docstring)."""
        unknown = set(data) - {"disable", "enable", "severity", "exclude", "source_platforms", "tag_aliases", "sensors"}
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", file=origin)

        def codes(key: str) -> set[str]:
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise ConfigError(f"'{key}' must be a list of check codes", file=origin)
            out = set(known_codes) if "all" in value else set(value)
            bad = out - known_codes
            if bad:
                raise ConfigError(f"'{key}' names unknown code(s) {', '.join(sorted(bad))}", file=origin)
            return out

        cfg = cls()
        cfg.disabled = codes("disable") - codes("enable")
        sev = data.get("severity", {})
        if not isinstance(sev, dict):
            raise ConfigError("'severity' must map check codes to error|warning|info", file=origin)
        for code, level in sev.items():
            if code not in known_codes or level not in SEVERITIES:
                raise ConfigError(f"severity {code} = {level!r}: unknown code or not one of {SEVERITIES}", file=origin)
        cfg.severity = dict(sev)
        exc = _table(data, "exclude", list, "check codes (or '*') to lists of rule names", origin)
        for code in exc:
            if code != "*" and code not in known_codes:
                raise ConfigError(f"'exclude' names unknown code {code}", file=origin)
        cfg.exclude = {k: [str(p) for p in v] for k, v in exc.items()}
        sp = _table(data, "source_platforms", list, "sources to lists of ATT&CK platforms", origin)
        cfg.source_platforms.update({k: _platforms(k, v, origin) for k, v in sp.items()})
        cfg.tag_aliases = _table(data, "tag_aliases", str, "tags to the tags they stand for", origin)
        cfg.sensors = parse_profile(_table(data, "sensors", dict, "sources to {log_sources = [...], "
                                                                  "data_components = [...]}", origin), origin)
        return cfg


#: every Enterprise ATT&CK platform name, of every release this package reads (renamed ones too)
ATTACK_PLATFORMS = ("Linux", "macOS", "Windows", "Containers", "ESXi", "IaaS", "SaaS", "Office Suite", "Office 365",
                    "Identity Provider", "Azure AD", "Google Workspace", "Network Devices", "Network", "PRE")


def _platforms(source: str, value: list[Any], origin: str) -> list[str]:
    """A source's platforms, each a name ATT&CK uses: a typo would silently observe nothing."""
    bad = [p for p in value if p not in ATTACK_PLATFORMS]
    if bad:
        hint = {str(p): q for p in bad for q in ATTACK_PLATFORMS if str(p).casefold() == q.casefold()}
        said = ", ".join(f"{p!r} (did you mean {hint[str(p)]!r}?)" if str(p) in hint else repr(p) for p in bad)
        raise ConfigError(f"source_platforms.{source} names unknown ATT&CK platform(s) {said}; choose from "
                          f"{', '.join(ATTACK_PLATFORMS)}", file=origin)
    return [str(p) for p in value]


def _table(data: dict[str, Any], key: str, kind: type, what: str, origin: str) -> dict[str, Any]:
    """``data[key]`` (default: empty), which must map names to values of ``kind``: ConfigError otherwise."""
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, kind) for v in value.values()):
        raise ConfigError(f"'{key}' must map {what}", file=origin)
    return {str(k): v for k, v in value.items()}


def load_config(path: str | Path | None, known_codes: set[str] | None = None,
                search_dir: Path | None = None) -> CheckConfig:
    """Read ``path``; without one, ``.falco-coverage.yaml`` then pyproject.toml in ``search_dir`` (cwd).

    ``known_codes`` (default: every code of :mod:`falco_coverage.codes`) are the codes it may name.
    """
    if known_codes is None:
        from .codes import REGISTRY

        known_codes = set(REGISTRY.codes())
    if path is None:
        found = find_config(search_dir)
        return load_config(found, known_codes) if found is not None else CheckConfig()
    p = Path(path)
    if not p.exists():
        raise ConfigError("no such config file", file=p)
    data = _read(p)
    return CheckConfig.from_mapping(data or {}, known_codes, str(p))


def find_config(search_dir: Path | None = None) -> Path | None:
    """The configuration file of ``search_dir`` (default: the working directory): ``.falco-coverage.yaml``
    (or ``.yml``), else a ``pyproject.toml`` holding a ``[tool.falco-coverage]`` table; else ``None``."""
    base = search_dir or Path.cwd()
    for candidate in (base / ".falco-coverage.yaml", base / ".falco-coverage.yml", base / "pyproject.toml"):
        if candidate.is_file() and _read(candidate) is not None:
            return candidate
    return None


#: a configuration file is a few lines; anything this big is something else
MAX_CONFIG_BYTES = 1 << 20


def _read(path: Path) -> dict[str, Any] | None:
    """The settings in ``path``; ``None`` for a pyproject.toml without our table."""
    raw = read_regular(path, MAX_CONFIG_BYTES, ConfigError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", file=path,
                          line=line_of_offset(raw, exc.start)) from None
    deep = too_deep(raw)
    if deep is not None:
        raise ConfigError(f"nests deeper than {MAX_SCAN_DEPTH} levels; not a configuration", file=path, line=deep)
    data = _toml(text, path) if path.suffix == ".toml" else _yaml(text, path)
    if data is not None:
        _check_keys(data, path, "")
    return data


def _toml(text: str, path: Path) -> dict[str, Any] | None:
    import tomllib

    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"invalid TOML: {exc if not isinstance(exc, RecursionError) else 'nested too deep'}",
                          file=path) from None
    tool = doc.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError("[tool] must be a table", file=path)
    table = tool.get("falco-coverage")
    if table is None and path.name == "pyproject.toml":
        return None
    if table is not None and not isinstance(table, dict):
        raise ConfigError("[tool.falco-coverage] must be a table of settings", file=path)
    return table or {}


#: a configuration's YAML may not expand (aliases included) past this many nodes, nor nest deeper
MAX_CONFIG_NODES = 100_000
MAX_CONFIG_DEPTH = 64


def _yaml(text: str, path: Path) -> dict[str, Any]:
    import yaml

    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()  # the node graph: an alias is a reference, not yet a copy
        data = None if node is None else _Built(loader, path).value(node, 0)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=path,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deep", file=path) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping of settings", file=path)
    return data


class _Built:
    """YAML nodes to values under a budget: every node visit counts, aliases included, so an alias
    bomb or a self-referencing alias is a ConfigError, not a hang or a RecursionError."""

    def __init__(self, loader: Any, path: Path) -> None:
        self.loader, self.path, self.left = loader, path, MAX_CONFIG_NODES

    def value(self, node: Any, depth: int) -> Any:
        import yaml

        self.left -= 1
        if self.left < 0:
            raise ConfigError(f"expands past {MAX_CONFIG_NODES:,} YAML nodes (an alias bomb?)", file=self.path,
                              line=node.start_mark.line + 1)
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"nests deeper than {MAX_CONFIG_DEPTH} levels (a recursive alias?)", file=self.path,
                              line=node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(c, depth + 1) for c in node.value]
        out = {}
        for k, v in node.value:
            key = self.value(k, depth + 1)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ConfigError(f"key {key!r} must be text", file=self.path, line=k.start_mark.line + 1)
            out[key] = self.value(v, depth + 1)
        return out


def _check_keys(value: Any, path: Path, where: str, depth: int = 0) -> None:
    """Every mapping key is text (YAML also allows numbers, booleans, null and lists as keys)."""
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(f"nests deeper than {MAX_CONFIG_DEPTH} levels; not a configuration", file=path)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"key {key!r}{' in ' + where if where else ''} must be text", file=path)
            _check_keys(item, path, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, path, where, depth + 1)
