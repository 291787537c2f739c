"""How falcosecurity/rules writes ATT&CK and maturity in tags (spec section 8).

Only the canonical forms are recognised here; near-misses (``Mitre_Execution``, ``t1059``) stay in
``other`` so that the tag checker can report and fix them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

TACTIC_PREFIX = "mitre_"
MATURITY_PREFIX = "maturity_"
TECHNIQUE_RE = re.compile(r"T\d{4}(?:\.\d{3})?")
TACTIC_ID_RE = re.compile(r"TA\d{4}")


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
