"""How Falco rules write ATT&CK and maturity in tags: ``mitre_<tactic>``, ``TA####``, ``T####[.###]``, ``maturity_<level>``.

Only the canonical forms are recognised here; near-misses (``Mitre_Execution``, ``t1059``) stay in
``other`` so that the tag checker can report and fix them.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

TACTIC_PREFIX = "mitre_"
MATURITY_PREFIX = "maturity_"
TECHNIQUE_RE = re.compile(r"T\d{4}(?:\.\d{3})?")
TACTIC_ID_RE = re.compile(r"TA\d{4}")
#: an ATT&CK data source ID (DS0015), which users sometimes write where a technique belongs
DATA_SOURCE_RE = re.compile(r"DS\d{4}", re.I)


class SplitTags(NamedTuple):
    tactics: list[str]
    techniques: list[str]
    other: list[str]
    maturity: str | None


def is_tactic_tag(tag: str) -> bool:
    return (tag.startswith(TACTIC_PREFIX) and len(tag) > len(TACTIC_PREFIX)) or bool(TACTIC_ID_RE.fullmatch(tag))


def is_technique_tag(tag: str) -> bool:
    return bool(TECHNIQUE_RE.fullmatch(tag))


def split_tags(tags: list[str]) -> SplitTags:
    """Split tags into tactic tags, technique tags, other tags, and the maturity (first one wins)."""
    tactics: list[str] = []
    techniques: list[str] = []
    other: list[str] = []
    maturity: str | None = None
    for tag in tags:
        if is_technique_tag(tag):
            techniques.append(tag)
        elif is_tactic_tag(tag):
            tactics.append(tag)
        elif tag.startswith(MATURITY_PREFIX) and len(tag) > len(MATURITY_PREFIX):
            maturity = maturity or tag[len(MATURITY_PREFIX):]
        else:
            other.append(tag)
    return SplitTags(tactics, techniques, other, maturity)


def tactic_tag(shortname: str) -> str:
    """``privilege-escalation`` -> ``mitre_privilege_escalation``."""
    return TACTIC_PREFIX + shortname.replace("-", "_")


class AttackTag(NamedTuple):
    """What an ATT&CK-looking tag means once written canonically.

    ``kind`` is ``technique`` (value ``T1059.004``), ``tactic`` (value a shortname such as
    ``privilege-escalation``, from ``mitre_*``) or ``tactic_id`` (value ``TA0004``).
    ``canonical`` is the tag as falcosecurity/rules writes it; ``malformed`` when the tag differs.
    """

    kind: str
    value: str
    canonical: str
    malformed: bool


_KEYS = {
    "tactic": "tactic", "tactics": "tactic", "mitre_tactic": "tactic", "attack_tactic": "tactic",
    "tactic_id": "tactic_id", "technique": "technique", "techniques": "technique", "technique_id": "technique",
    "mitre_technique": "technique", "attack_technique": "technique", "subtechnique": "technique",
    "sub_technique": "technique", "ttp": "any", "mitre": "any", "attack": "any", "mitre_attack": "any",
    "mitre-attack": "any",
}
_KEY_VALUE = re.compile(r"^\s*([A-Za-z][A-Za-z_\-]*)\s*[=:]\s*(.+?)\s*$")
_DOTTED = re.compile(r"^(attack|mitre|mitre_attack|mitre-attack)\.(.+)$", re.I)
_LOOSE_TECH = re.compile(r"^t(\d{4})(?:[./_\-](\d{3}))?(?:[-_ ][A-Za-z].*)?$", re.I)
_LOOSE_TACTIC_ID = re.compile(r"^ta(\d{4})(?:[-_ ][A-Za-z].*)?$", re.I)
_LOOSE_MITRE = re.compile(r"^mitre[_\- ]([A-Za-z][A-Za-z_\- ]*)$", re.I)


def _from_value(value: str, hint: str) -> tuple[str, str] | None:
    m = _LOOSE_TECH.match(value)
    if m and hint in ("technique", "any"):
        return "technique", f"T{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")
    m = _LOOSE_TACTIC_ID.match(value)
    if m and hint in ("tactic", "tactic_id", "any"):
        return "tactic_id", f"TA{m.group(1)}"
    m = _LOOSE_MITRE.match(value)
    if m and hint in ("tactic", "any"):
        value = m.group(1)
    if hint in ("tactic", "any") and re.fullmatch(r"[A-Za-z][A-Za-z_\- ]*", value):
        return "tactic", re.sub(r"[_ ]+", "-", value.strip().lower())
    return None


@functools.lru_cache(maxsize=65536)
def parse_attack_tag(tag: str) -> AttackTag | None:
    """Recognise an ATT&CK reference in any common form; ``None`` for ordinary tags.

    ``T1059.004``, ``mitre_execution`` and ``TA0002`` are canonical. Recognised near-misses:
    wrong case (``t1059.004``, ``Mitre_Execution``), wrong separators (``mitre-execution``,
    ``T1059/004``), an ID with its name appended (``T1562-impair-defenses``), key=value and
    foreign forms (``tactic=impact``, ``technique_id=T1529``, ``attack.t1059``, ``attack.execution``).
    """
    if TECHNIQUE_RE.fullmatch(tag):
        return AttackTag("technique", tag, tag, False)
    if TACTIC_ID_RE.fullmatch(tag):
        return AttackTag("tactic_id", tag, tag, False)
    if re.fullmatch(r"mitre_[a-z]+(?:_[a-z]+)*", tag):
        return AttackTag("tactic", tag[len(TACTIC_PREFIX):].replace("_", "-"), tag, False)
    parsed: tuple[str, str] | None = None
    kv = _KEY_VALUE.match(tag)
    dotted = _DOTTED.match(tag)
    if kv and kv.group(1).lower() in _KEYS:
        parsed = _from_value(kv.group(2).strip("'\""), _KEYS[kv.group(1).lower()])
    elif dotted:
        parsed = _from_value(dotted.group(2), "any")
    elif _LOOSE_TECH.match(tag) or _LOOSE_TACTIC_ID.match(tag) or _LOOSE_MITRE.match(tag):
        parsed = _from_value(tag, "any")
    if parsed is None:
        return None
    kind, value = parsed
    canonical = tactic_tag(value) if kind == "tactic" else value
    return AttackTag(kind, value, canonical, canonical != tag)
