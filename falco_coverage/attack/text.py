"""ATT&CK's own words per technique: its description, its detection text and its procedure examples.

Suggestions rank techniques by how well these words match a rule's, so they are kept as plain text
with citations, links and markup taken out. Gathered during the single pass over a bundle's objects
and built into the ``technique_text`` frame when first asked for (column meanings:
:mod:`falco_coverage.columns`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ..columns import columns, conform
from .props import text as _text

#: procedure examples kept per technique (the most used techniques have hundreds that say the same)
MAX_PROCEDURES = 40
#: characters kept of one procedure example
MAX_PROCEDURE_CHARS = 300

_CITATION = re.compile(r"\(Citation:[^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]{1,40}>")
_SPACE = re.compile(r"\s+")


def plain(value: object) -> str:
    """STIX text without citations, markdown links (their words are kept), HTML tags and extra space."""
    if not isinstance(value, str):
        return ""
    return _SPACE.sub(" ", _TAG.sub(" ", _LINK.sub(r"\1", _CITATION.sub(" ", value)))).strip()


@dataclass
class TextObjects:
    """The text of a bundle's techniques and of its ``uses`` relationships, gathered in the one pass."""

    #: technique STIX ID -> (description, x_mitre_detection)
    techniques: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: (user STIX ID, technique STIX ID, description) of active ``uses`` relationships
    uses: list[tuple[str, str, str]] = field(default_factory=list)

    def add_technique(self, obj: dict) -> None:
        sid = _text(obj.get("id"))
        if sid is not None:
            self.techniques[sid] = (_text(obj.get("description")) or "", _text(obj.get("x_mitre_detection")) or "")

    def add_use(self, src: str, dst: str, obj: dict) -> None:
        desc = _text(obj.get("description"))
        if desc:
            self.uses.append((src, dst, desc))

    def frame(self, technique_ids: dict[str, str], active_users: dict[str, bool]) -> pd.DataFrame:
        """``technique_text``: one row per technique; procedure examples only of active groups and software."""
        procedures: dict[str, list[str]] = {}
        for src, dst, desc in self.uses:
            kept = procedures.setdefault(dst, [])
            if active_users.get(src) and len(kept) < MAX_PROCEDURES:
                kept.append(plain(desc)[:MAX_PROCEDURE_CHARS])
        rows = [(tid, plain(self.techniques[sid][0]), plain(self.techniques[sid][1]) or None,
                 procedures.get(sid, []))
                for sid, tid in technique_ids.items() if sid in self.techniques]
        df = pd.DataFrame(rows, columns=columns("attack.technique_text"))
        return conform(df.sort_values("technique_id", ignore_index=True), "attack.technique_text")
