"""Apply the unambiguous tag fixes as precise text edits: every other byte of the file stays.

Fixes (codes): revoked-technique -> its replacement; malformed-tag -> the canonical tag;
unknown-tactic -> the nearest tactic when one stands out; missing-tactic and tactic-mismatch ->
the technique's tactic when it has exactly one (replacing the rule's unsupported tactic tag when
there is exactly one such tag, else adding). The edit goes where the tag is written, also when
that is an override in a later file.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..codes import FIXABLE
from ..errors import FalcoCoverageError
from ..findings import Location
from ..fsutil import atomic_write
from ..rules import RuleSet
from ..rules.reader import Item, read_items

__all__ = ["FIXABLE", "Edit", "apply", "apply_to_text", "plan", "unified_diff"]


@dataclass
class Edit:
    """``replace`` the tag ``old`` written at ``file:line`` by ``new``, ``remove`` it, or ``add`` ``new``
    to the tag list that holds it."""

    action: str
    file: str
    line: int
    old: str
    new: str | None
    rule: str
    code: str


def plan(findings: pd.DataFrame, ruleset: RuleSet, codes: list[str] | None = None) -> list[Edit]:
    """The edits that fix the fixable findings (only those with a suggestion)."""
    wanted = set(codes or FIXABLE) & set(FIXABLE)
    tags_now = {r["name"]: list(r["tags"]) for r in ruleset.rules.to_dict("records")}
    where: dict[str, dict[str, Location]] = {
        r["name"]: dict(zip(r["tags"], r["tag_locations"])) for r in ruleset.rules.to_dict("records")}
    unsupported: dict[str, list[str]] = defaultdict(list)
    for rec in findings[findings["code"] == "unsupported-tactic"].to_dict("records"):
        unsupported[rec["rule"]].append(rec["tag"])
    edits: list[Edit] = []
    order = {c: i for i, c in enumerate(FIXABLE)}
    recs = sorted(findings[findings["code"].isin(wanted)].to_dict("records"), key=lambda r: order[str(r["code"])])
    for rec in recs:
        new = rec["suggestion"] if isinstance(rec["suggestion"], str) else None
        rule, code, tag = rec["rule"], str(rec["code"]), rec["tag"]
        if not new or not isinstance(tag, str) or rule not in tags_now:
            continue
        current = tags_now[rule]
        if code in ("missing-tactic", "tactic-mismatch"):
            if new in current:
                continue
            spare = [u for u in unsupported[rule] if u in current]
            if code == "tactic-mismatch" and len(spare) == 1:
                old = spare[0]
                unsupported[rule].remove(old)
                at = where[rule].get(old) or Location(rec["file"], int(rec["line"]))
                edits.append(Edit("replace", at.file, at.line, old, new, rule, code))
                current[current.index(old)] = new
            else:
                edits.append(Edit("add", rec["file"], int(rec["line"]), tag, new, rule, code))
                current.append(new)
            continue
        if tag not in current:
            continue
        if new in current:  # the corrected tag is already there: drop the wrong one
            edits.append(Edit("remove", rec["file"], int(rec["line"]), tag, None, rule, code))
            current.remove(tag)
        else:
            edits.append(Edit("replace", rec["file"], int(rec["line"]), tag, new, rule, code))
            current[current.index(tag)] = new
    return edits


def _locate(items: list[Item], line: int, tag: str) -> tuple[Item, int] | None:
    for item in items:
        tags = item.data.get("tags")
        if not isinstance(tags, list):
            continue
        for i, span in enumerate(item.tag_spans):
            if span.line == line and i < len(tags) and tags[i] == tag:
                return item, i
    return None


def apply_to_text(path: Path, text: str, edits: list[Edit]) -> str:
    """``text`` (the content of ``path``) with ``edits`` applied."""
    items, problems = read_items(path)
    if problems:
        raise FalcoCoverageError("cannot edit a file that does not parse", file=path)
    changes: list[tuple[int, int, str]] = []
    added: dict[tuple[int, int], list[str]] = defaultdict(list)
    for e in edits:
        hit = _locate(items, e.line, e.old)
        if hit is None:
            raise FalcoCoverageError(f"tag '{e.old}' of rule '{e.rule}' not found where expected", file=path,
                                     line=e.line)
        item, i = hit
        span = item.tag_spans[i]
        if e.action == "replace":
            token = text[span.start:span.end]
            q = token[0] if token[:1] in ("'", '"') else ""
            changes.append((span.start, span.end, f"{q}{e.new}{q}"))
        elif e.action == "remove":
            changes.append(_removal(text, item, i))
        else:
            last = item.tag_spans[-1]
            added[(last.start, last.end)].append(str(e.new))
    for (start, end), new_tags in added.items():
        item = next(it for it in items if it.tag_spans and it.tag_spans[-1].end == end)
        if item.tags_flow:
            changes.append((end, end, "".join(f", {t}" for t in new_tags)))
        else:
            line_start = text.rfind("\n", 0, start) + 1
            prefix = text[line_start:start]
            eol = text.find("\n", end)
            eol = len(text) if eol == -1 else eol
            changes.append((eol, eol, "".join(f"\n{prefix}{t}" for t in new_tags)))
    for start, end, repl in sorted(changes, key=lambda c: (c[0], c[1]), reverse=True):
        text = text[:start] + repl + text[end:]
    return text


def _removal(text: str, item: Item, i: int) -> tuple[int, int, str]:
    spans = item.tag_spans
    span = spans[i]
    if item.tags_flow:
        if i + 1 < len(spans):
            return span.start, spans[i + 1].start, ""
        if i > 0:
            return spans[i - 1].end, span.end, ""
        return span.start, span.end, ""
    line_start = text.rfind("\n", 0, span.start) + 1
    eol = text.find("\n", span.end)
    return line_start, (len(text) if eol == -1 else eol + 1), ""


def apply(edits: list[Edit], *, write: bool) -> dict[str, tuple[str, str]]:
    """Apply ``edits`` per file; returns ``{file: (old_text, new_text)}``. ``write`` saves atomically."""
    by_file: dict[str, list[Edit]] = defaultdict(list)
    for e in edits:
        by_file[e.file].append(e)
    out: dict[str, tuple[str, str]] = {}
    for file, file_edits in by_file.items():
        path = Path(file)
        raw = path.read_bytes()
        old = raw.decode("utf-8")
        new = apply_to_text(path, old, file_edits)
        out[file] = (old, new)
        if write and new != old:
            atomic_write(path, new.encode("utf-8"), mode=os.stat(path).st_mode & 0o7777)
    return out


def unified_diff(results: dict[str, tuple[str, str]]) -> str:
    chunks: list[str] = []
    for file, (old, new) in results.items():
        chunks.extend(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                           fromfile=f"a/{file}", tofile=f"b/{file}"))
    return "".join(chunks)
