"""Apply tag fixes as precise text edits: every other byte of the file stays.

Fixes (codes): revoked-technique -> its replacement; malformed-tag -> the canonical tag;
unknown-tactic -> the nearest tactic, or the technique (and tactic) a would-be tactic tag names;
missing-tactic -> the technique's tactic when it has exactly one. tactic-mismatch has two plausible
remedies (a wrong technique or a wrong tactic), so it is applied only when named: it then replaces
the rule's one unsupported tactic tag by the technique's tactic. Every planned edit is checked again
on the edited rule; an edit whose new tag would itself draw a finding is not made. The edit goes
where the tag is written, also when that is an override in a later file.
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..attack import AttackData
from ..codes import DEFAULT_FIXES, FIXABLE, REGISTRY
from ..config import CheckConfig
from ..errors import FalcoCoverageError
from ..findings import Location
from ..fsutil import atomic_write
from ..rules import RuleSet
from ..rules.reader import Item, read_items

__all__ = ["DEFAULT_FIXES", "FIXABLE", "Edit", "apply", "apply_to_text", "plan", "unified_diff"]


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


def plan(findings: pd.DataFrame, ruleset: RuleSet, codes: list[str] | None = None, *,
         attack: AttackData | None = None, config: CheckConfig | None = None) -> list[Edit]:
    """The edits that fix the fixable findings of ``codes`` (default: the unambiguous ones) that have a
    suggestion. Given ``attack``, each edited rule is checked again and edits whose new tag would draw
    a finding are dropped."""
    edits = _plan(findings, ruleset, set(codes or DEFAULT_FIXES) & set(FIXABLE))
    return _recheck(edits, ruleset, attack, config or CheckConfig()) if attack is not None else edits


def _recheck(edits: list[Edit], ruleset: RuleSet, attack: AttackData, config: CheckConfig) -> list[Edit]:
    from .checks import TagContext
    from .tag_index import AttackIndex, rule_tags

    idx = AttackIndex.of(attack)
    ctx = TagContext(idx, config.source_platforms)
    rows = {r["name"]: r for r in ruleset.rules.to_dict("records")}
    kept: list[Edit] = []
    for name in dict.fromkeys(e.rule for e in edits):
        mine = [e for e in edits if e.rule == name]
        row = dict(rows[name])
        tags, locs = list(row["tags"]), list(row["tag_locations"])
        for e in mine:
            here = Location(e.file, e.line)
            if e.action == "replace" and e.old in tags:
                tags[tags.index(e.old)] = str(e.new)
                locs[tags.index(str(e.new))] = here
            elif e.action == "remove" and e.old in tags:
                locs.pop(tags.index(e.old))
                tags.remove(e.old)
            elif e.action == "add" and e.new not in tags:
                tags.append(str(e.new))
                locs.append(here)
        row["tags"], row["tag_locations"] = tags, locs
        found = REGISTRY.run("tag", [rule_tags(row, idx)], ctx, config)
        bad = {f.tag for f in found if f.severity is not None and f.severity.rank >= 1 and f.tag}
        kept.extend(e for e in mine if e.new not in bad)
    return kept


def _plan(findings: pd.DataFrame, ruleset: RuleSet, wanted: set[str]) -> list[Edit]:
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
        suggested = [s.strip() for s in rec["suggestion"].split(",")] if isinstance(rec["suggestion"], str) else []
        rule, code, tag = rec["rule"], str(rec["code"]), rec["tag"]
        if not suggested or not isinstance(tag, str) or rule not in tags_now:
            continue
        current = tags_now[rule]
        new, extra = suggested[0], suggested[1:]
        if code == "missing-tactic":
            if new not in current:
                edits.append(Edit("add", rec["file"], int(rec["line"]), tag, new, rule, code))
                current.append(new)
            continue
        if code == "tactic-mismatch":  # only when asked for: replace the one wrong tactic tag
            spare = [u for u in unsupported[rule] if u in current]
            if new in current or len(spare) != 1:
                continue
            old = spare[0]
            unsupported[rule].remove(old)
            at = where[rule].get(old) or Location(rec["file"], int(rec["line"]))
            edits.append(Edit("replace", at.file, at.line, old, new, rule, code))
            current[current.index(old)] = new
            continue
        if tag not in current:
            continue
        if new in current:  # the corrected tag is already there: drop the wrong one
            edits.append(Edit("remove", rec["file"], int(rec["line"]), tag, None, rule, code))
            current.remove(tag)
        else:
            edits.append(Edit("replace", rec["file"], int(rec["line"]), tag, new, rule, code))
            current[current.index(tag)] = new
        for more in extra:  # e.g. the tactic that goes with a technique
            if more not in current:
                edits.append(Edit("add", rec["file"], int(rec["line"]), tag, more, rule, code))
                current.append(more)
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


def diff_path(file: str, base: Path | None = None) -> str:
    """A path for ``a/...`` and ``b/...`` diff headers: relative to ``base`` (cwd) when under it, never
    starting with ``/`` (``git apply`` rejects ``a//tmp/x``)."""
    path = Path(os.path.abspath(file))
    try:
        return path.relative_to(os.path.abspath(base or Path.cwd())).as_posix()
    except ValueError:
        return path.as_posix().lstrip("/")


def unified_diff(results: dict[str, tuple[str, str]], base: Path | None = None) -> str:
    """A unified diff of every changed file, with ``a/`` and ``b/`` headers as git writes them."""
    chunks: list[str] = []
    for file, (old, new) in results.items():
        name = diff_path(file, base)
        chunks.extend(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                           fromfile=f"a/{name}", tofile=f"b/{name}"))
    return "".join(chunks)
