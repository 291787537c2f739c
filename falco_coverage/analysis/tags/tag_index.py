"""What one rule says about ATT&CK, and fast lookups over one ATT&CK release: what the tag checks read."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from ...attack import AttackData
from ...findings import Finding, Location
from ...rules.tags import AttackTag, parse_attack_tag, tactic_tag
from .migrate import Migration

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, every run of other characters one blank: ``Event-Triggered Execution`` -> ``event triggered execution``."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@dataclass
class TagContext:
    """What every tag check may consult besides the rule: the release, the migration from the release
    before it, a second release accepted during a transition, what each source observes, tag aliases."""

    idx: AttackIndex
    source_platforms: dict[str, list[str]]
    migration: Migration | None = None
    also: AttackIndex | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    #: the release itself, for checks that read more than the index (its detection model)
    attack: AttackData | None = None
    #: the configuration's sensor profile entries (see :mod:`falco_coverage.analysis.coverage.sensors`)
    sensors: dict[str, Any] = field(default_factory=dict)
    #: what checks build once per run and share (e.g. the index of the release's analytics)
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class TagEntry:
    """One tag of a rule, where it is written, and what it means when it is an ATT&CK reference."""

    tag: str
    location: Location
    parsed: AttackTag | None


@dataclass
class RuleTags:
    """What one resolved rule says about ATT&CK, ready for the checks."""

    name: str
    desc: str
    source: str
    enabled: bool
    location: Location
    entries: list[TagEntry]
    #: known tactic shortname -> the entries naming it (mitre_* and TA#### forms, canonicalised)
    tactics: dict[str, list[TagEntry]] = field(default_factory=dict)
    #: canonical technique ID -> the entry naming it
    techniques: dict[str, TagEntry] = field(default_factory=dict)
    #: active (neither revoked nor deprecated) tagged techniques
    active: list[str] = field(default_factory=list)
    #: keys Falco ignores on the rule: {"key", "value", "location"} each
    ignored_keys: list[dict[str, Any]] = field(default_factory=list)
    #: the event types it matches (None: all, or not a syscall rule) and its expanded condition
    evt_types: list[str] | None = None
    condition: str | None = None

    def finding(self, code: str, message: str, entry: TagEntry | None = None, **kw: Any) -> Finding:
        """A finding on this rule, at ``entry``'s tag when given, else at the rule."""
        tag = entry.tag if entry else kw.pop("tag", None)
        return Finding(code, self.name, message, entry.location if entry else self.location, tag=tag,
                       enabled=self.enabled, **kw)


class AttackIndex:
    """Fast lookups over one ATT&CK release."""

    def __init__(self, attack: AttackData) -> None:
        self.version = attack.version
        self.domain = attack.domain
        self.tech: dict[str, dict[str, Any]] = {r["technique_id"]: r for r in attack.techniques.to_dict("records")}
        self.tactic_name: dict[str, str]
        tac = attack.tactics
        self.tactic_order = list(tac["shortname"])
        self.tactic_name = dict(zip(tac["shortname"], tac["name"]))
        self.tactic_by_id = dict(zip(tac["tactic_id"], tac["shortname"]))
        self.tactic_id = dict(zip(tac["shortname"], tac["tactic_id"]))
        #: normalised name of an active technique or sub-technique -> its IDs
        self.by_name: dict[str, list[str]] = {}
        for tid, row in self.tech.items():
            if not row["revoked"] and not row["deprecated"]:
                self.by_name.setdefault(normalize(row["name"]), []).append(tid)
        #: names specific enough to count as a mention, by first word: top-level techniques (sub-technique
        #: names such as "IP Addresses" or "Shell History" mean little without their parent's), two words
        #: or more, naming one technique
        self.phrases: dict[str, list[tuple[list[str], str]]] = {}
        for name, ids in self.by_name.items():
            words = name.split()
            if len(words) > 1 and len(ids) == 1 and "." not in ids[0]:
                self.phrases.setdefault(words[0], []).append((words, ids[0]))

    @classmethod
    def of(cls, attack: AttackData) -> AttackIndex:
        """The index of ``attack``, built once per release object."""
        return attack.memoised("tag_index", cls, lambda: cls(attack))

    def mentioned(self, text: str) -> list[str]:
        """IDs of the techniques whose whole name (two words or more) appears in ``text``, first first."""
        words = normalize(text).split()
        found: dict[str, None] = {}
        for i, word in enumerate(words):
            for phrase, tid in self.phrases.get(word, ()):
                if words[i:i + len(phrase)] == phrase:
                    found[tid] = None
        return list(found)

    def label(self, tid: str) -> str:
        row = self.tech.get(tid)
        return f"{tid} ({row['name']})" if row else tid

    def names(self, shortnames: Any) -> str:
        ordered = sorted(shortnames, key=lambda s: self.tactic_order.index(s) if s in self.tactic_order else 99)
        return join_words([self.tactic_name.get(s, s) for s in ordered])

    def active(self, tid: str) -> bool:
        row = self.tech.get(tid)
        return row is not None and not row["revoked"] and not row["deprecated"]

    def release(self) -> str:
        return f"ATT&CK {self.version}" if self.version else "this ATT&CK release"


def join_words(items: list[str]) -> str:
    """``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def parse_tag(tag: str, idx: AttackIndex, retired: Container[str] = ()) -> AttackTag | None:
    """``parse_attack_tag``, plus bare tactic names (``credential_access``, ``Persistence``) of this
    release or ``retired`` from the one before (a bare ``defense_evasion`` still means the tactic)."""
    parsed = parse_attack_tag(tag)
    if parsed is None:
        short = _BARE.sub("-", tag.strip().lower())
        if short in idx.tactic_name or short in retired:
            return AttackTag("tactic", short, tactic_tag(short), True)
    return parsed


_BARE = re.compile(r"[_ ]+")


#: the ``rules`` columns :func:`rule_tags` reads (select them before ``to_dict``: it is the slow part)
RULE_COLUMNS = ["name", "desc", "source", "enabled", "file", "line", "tags", "tag_locations", "ignored_keys",
                "changed_at", "evt_types", "expanded_condition"]


def rule_tags(row: dict[str, Any], idx: AttackIndex, location: Location | None = None,
              aliases: dict[str, str] | None = None, retired: Container[str] = ()) -> RuleTags:
    """The tags of one ``rules`` row, parsed and grouped for the checks; rule-level findings go to
    ``location`` (default: where the rule is first defined). ``aliases`` (tag -> the tag it stands for,
    from the configuration) are read as what they stand for; ``retired`` tactics are read as tactics."""
    aliases = aliases or {}
    entries = [TagEntry(tag, where, parse_tag(aliases.get(tag, tag), idx, retired))
               for tag, where in zip(row["tags"], row["tag_locations"])]
    desc = row["desc"] if isinstance(row["desc"], str) else ""
    rt = RuleTags(row["name"], desc, row["source"], bool(row["enabled"]),
                  location or Location(row["file"], int(row["line"])), entries,
                  ignored_keys=list(row.get("ignored_keys") or []),
                  evt_types=row.get("evt_types") if isinstance(row.get("evt_types"), list) else None,
                  condition=row.get("expanded_condition") if isinstance(row.get("expanded_condition"), str) else None)
    for e in entries:
        p = e.parsed
        if p is None:
            continue
        if p.kind == "technique":
            rt.techniques.setdefault(p.value, e)
        else:
            short = p.value if p.kind == "tactic" else idx.tactic_by_id.get(p.value)
            if short in idx.tactic_name:
                rt.tactics.setdefault(short, []).append(e)
    rt.active = [t for t in rt.techniques if idx.active(t)]
    return rt
