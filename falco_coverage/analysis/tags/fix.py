"""Apply tag fixes as precise text edits: every other byte of the file stays.

Fixes (codes): revoked-technique -> its replacement; malformed-tag -> the canonical tag;
unknown-tactic -> the nearest tactic, or the technique (and tactic) a would-be tactic tag names;
missing-tactic -> the technique's tactic when it has exactly one; retired-tactic -> the successors the
rule's techniques went to (or the tag removed when they went to none); tactic-renamed -> the ID of the
tactic the rule's techniques are in now; a revoked technique's replacement brings its tactic tag
along. All of a release move is fixed in one run, and a second run changes nothing. tactic-mismatch has two plausible
remedies (a wrong technique or a wrong tactic), so it is applied only when named: it then replaces
the rule's one unsupported tactic tag by the technique's tactic. Every planned edit is checked again
on the edited rule; an edit whose new tag would itself draw a finding is not made. The edit goes
where the tag is written, also when that is an override in a later file. With ``suggest``, the
confident technique suggestion of a ``no-mitre-tags`` or ``tactic-only`` finding (and its tactic) is
added after the rule's last tag; a rule with no tag list is left to its author.
"""

from __future__ import annotations

import codecs
import difflib
import os
from collections import defaultdict
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...attack import AttackData
from ...codes import DEFAULT_FIXES, FIXABLE, REGISTRY, SUGGESTED_CODES
from ...config import CheckConfig
from ...errors import FalcoCoverageError
from ...findings import Location
from ...fsutil import atomic_write
from ...rules import RuleSet
from ...rules.reader import Item, read_items

__all__ = ["DEFAULT_FIXES", "FIXABLE", "Edit", "apply", "apply_to_text", "plan", "unified_diff"]


@dataclass
class Edit:
    """``replace`` the tag ``old`` written at ``file:line`` by ``new``, ``remove`` it, ``add`` ``new``
    to the tag list that holds it, or ``add_key``: give the rule defined at ``file:line``, which has no
    tag list, a ``tags:`` key holding ``new``."""

    action: str
    file: str
    line: int
    old: str
    new: str | None
    rule: str
    code: str


def plan(findings: pd.DataFrame, ruleset: RuleSet, codes: list[str] | None = None, *,
         attack: AttackData | None = None, config: CheckConfig | None = None, suggest: bool = False,
         skipped: list[tuple[Edit, str]] | None = None) -> list[Edit]:
    """The edits that fix the fixable findings of ``codes`` (default: the unambiguous ones) that have a
    suggestion. With ``suggest``, also the confident technique suggestions that ``no-mitre-tags`` and
    ``tactic-only`` findings carry. Given ``attack``, each edited rule is checked again and edits whose
    new tag would draw a finding are dropped; ``skipped`` (when given) receives each with the reason."""
    edits = _plan(findings, ruleset, set(codes or DEFAULT_FIXES) & set(FIXABLE))
    if suggest:
        edits += _suggested(findings, ruleset)
    if attack is None:
        return edits
    return _recheck(edits, ruleset, attack, config or CheckConfig(), skipped if skipped is not None else [])


def _apply_to_list(e: Edit, tags: list[str], locs: list[Location] | None = None) -> None:
    """What ``e`` does to a rule's tag list (and, given, the parallel list of where each tag is written)."""
    if e.action == "replace" and e.old in tags:
        i = tags.index(e.old)
        tags[i] = str(e.new)
        if locs is not None:
            locs[i] = Location(e.file, e.line)
    elif e.action == "remove" and e.old in tags:
        i = tags.index(e.old)
        del tags[i]
        if locs is not None:
            del locs[i]
    elif e.action in ("add", "add_key") and e.new not in tags:
        tags.append(str(e.new))
        if locs is not None:
            locs.append(Location(e.file, e.line))


def _recheck(edits: list[Edit], ruleset: RuleSet, attack: AttackData, config: CheckConfig,
             skipped: list[tuple[Edit, str]]) -> list[Edit]:
    """The edits that leave each rule no worse: an edit is dropped when its new tag draws a finding
    (warning or error) the rule did not have before, compared by what the finding is about (code,
    technique, tactic), not by how the tag was spelt: a malformed tag's canonical form that keeps a
    tactic mismatch the rule already had is still written."""
    from .checks import context
    from .tag_index import rule_tags

    ctx = context(attack, config)
    retired = ctx.migration.retired if ctx.migration is not None else ()
    by_rule: dict[str, list[Edit]] = defaultdict(list)
    for e in edits:
        by_rule[e.rule].append(e)
    rules = ruleset.rules
    # A finding on a tag depends only on the tag list and the source: check each distinct one once.
    subjects, key_of, seen = [], {}, set()
    for name, row_tags, row_locs, source in zip(rules["name"], rules["tags"], rules["tag_locations"],
                                                rules["source"]):
        mine = by_rule.get(name)
        if not mine:
            continue
        tags, locs = list(row_tags), list(row_locs)
        for e in mine:
            _apply_to_list(e, tags, locs)
        key_of[name] = (repr((tuple(tags), source)), repr((tuple(row_tags), source)))
        for key, (t, ls) in zip(key_of[name], ((tags, locs), (list(row_tags), list(row_locs)))):
            if key not in seen:
                seen.add(key)
                row = {"name": key, "desc": "", "source": source, "enabled": True, "file": "", "line": 0,
                       "tags": t, "tag_locations": ls, "ignored_keys": []}
                subjects.append(rule_tags(row, ctx.idx, None, ctx.aliases, retired))
    drawn: dict[str, list[tuple[str, tuple[Any, Any, Any]]]] = defaultdict(list)  # tag list -> (tag, what)
    for f in REGISTRY.run("tag", subjects, ctx, config):
        if f.severity is not None and f.severity.rank >= 1 and f.tag:
            drawn[f.rule].append((f.tag, (f.code, f.technique_id, f.tactic)))
    kept = []
    for e in edits:
        after, before = key_of[e.rule]
        had = {what for _, what in drawn[before]}
        new = [what[0] for tag, what in drawn[after] if tag == e.new and what not in had]
        if new:
            skipped.append((e, f"'{e.new}' would draw {', '.join(sorted(set(new)))}"))
        else:
            kept.append(e)
    return kept


def _plan(findings: pd.DataFrame, ruleset: RuleSet, wanted: set[str]) -> list[Edit]:
    order = {c: i for i, c in enumerate(FIXABLE)}
    chosen = findings.loc[findings["code"].isin(wanted), ["rule", "code", "tag", "suggestion", "file", "line"]]
    cols = ("rule", "code", "tag", "suggestion", "file", "line")
    recs = sorted((dict(zip(cols, values)) for values in zip(*(chosen[c].tolist() for c in cols))),
                  key=lambda r: order[str(r["code"])])
    planner = _Planner(findings, ruleset)
    for rec in recs:
        planner.take(rec)
    return planner.edits


class _Planner:
    """The edits for a run's findings, each planned on the tags as the edits before it left them."""

    def __init__(self, findings: pd.DataFrame, ruleset: RuleSet) -> None:
        rules = ruleset.rules
        self.tags = {name: list(tags) for name, tags in zip(rules["name"], rules["tags"])}
        self.where: dict[str, dict[str, Location]] = {
            name: dict(zip(tags, locs)) for name, tags, locs in zip(rules["name"], rules["tags"], rules["tag_locations"])}
        self.unsupported: dict[str, list[str]] = defaultdict(list)
        for rec in findings[findings["code"] == "unsupported-tactic"].to_dict("records"):
            self.unsupported[rec["rule"]].append(rec["tag"])
        self.edits: list[Edit] = []

    def _add(self, rec: dict[str, Any], anchor: str, new: str) -> None:
        current = self.tags[rec["rule"]]
        if new not in current:
            self.edits.append(Edit("add", rec["file"], int(rec["line"]), anchor, new, rec["rule"], str(rec["code"])))
            current.append(new)

    def _remove(self, rec: dict[str, Any], tag: str) -> None:
        self.edits.append(Edit("remove", rec["file"], int(rec["line"]), tag, None, rec["rule"], str(rec["code"])))
        self.tags[rec["rule"]].remove(tag)

    def _replace(self, rec: dict[str, Any], at: Location, old: str, new: str) -> None:
        self.edits.append(Edit("replace", at.file, at.line, old, new, rec["rule"], str(rec["code"])))
        current = self.tags[rec["rule"]]
        current[current.index(old)] = new

    def take(self, rec: dict[str, Any]) -> None:
        """Plan the fix of one finding, if it still applies."""
        suggested = [s.strip() for s in rec["suggestion"].split(",")] if isinstance(rec["suggestion"], str) else []
        rule, code, tag = rec["rule"], str(rec["code"]), rec["tag"]
        if not isinstance(tag, str) or rule not in self.tags:
            return
        current = self.tags[rule]
        if code == "retired-tactic" and not suggested:  # its techniques moved to none of its successors
            if tag in current:
                self._remove(rec, tag)
        elif not suggested:
            return
        elif code == "missing-tactic":
            self._add(rec, tag, suggested[0])
        elif code == "tactic-mismatch":  # only when asked for: replace the one wrong tactic tag
            self._tactic_mismatch(rec, suggested[0])
        elif tag in current:
            new = suggested[0]
            if new in current:  # the corrected tag is already there: drop the wrong one
                self._remove(rec, tag)
            else:
                self._replace(rec, Location(rec["file"], int(rec["line"])), tag, new)
            for more in suggested[1:]:  # e.g. the tactic that goes with a technique
                self._add(rec, tag, more)

    def _tactic_mismatch(self, rec: dict[str, Any], new: str) -> None:
        rule = rec["rule"]
        spare = [u for u in self.unsupported[rule] if u in self.tags[rule]]
        if new in self.tags[rule] or len(spare) != 1:
            return
        old = spare[0]
        self.unsupported[rule].remove(old)
        self._replace(rec, self.where[rule].get(old) or Location(rec["file"], int(rec["line"])), old, new)


def _suggested(findings: pd.DataFrame, ruleset: RuleSet) -> list[Edit]:
    """Add the suggested tags to the rule's tag list, after its last tag; a rule without a tag list gets
    a ``tags:`` key after its last key, in the file's flow style (``tags: [T1059, mitre_execution]``)."""
    rules = ruleset.rules
    last = {name: (tags[-1], locs[-1]) for name, tags, locs in zip(rules["name"], rules["tags"], rules["tag_locations"])
            if tags and locs}
    defined = dict(zip(rules["name"], zip(rules["file"], rules["line"])))
    edits = []
    chosen = findings[findings["code"].isin(SUGGESTED_CODES) & findings["suggestion"].notna()]
    for rule, code, suggestion in zip(chosen["rule"], chosen["code"], chosen["suggestion"]):
        for new in (s.strip() for s in str(suggestion).split(",")):
            if rule in last:
                anchor, at = last[rule]
                edits.append(Edit("add", at.file, at.line, anchor, new, rule, str(code)))
            elif rule in defined:
                file, line = defined[rule]
                edits.append(Edit("add_key", str(file), int(line), "", new, rule, str(code)))
    return edits


def _index(items: list[Item]) -> dict[tuple[int, str], list[tuple[int, int]]]:
    """(line, tag) -> every (item number, position) written there; several items share one tag list
    when it is a YAML anchor/alias."""
    out: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for k, item in enumerate(items):
        tags = item.data.get("tags")
        if isinstance(tags, list):
            for i, span in enumerate(item.tag_spans[:len(tags)]):
                out[(span.line, tags[i])].append((k, i))
    return out


def apply_to_text(path: Path, text: str, edits: list[Edit]) -> str:
    """``text`` (the content of ``path``, without a byte-order mark) with ``edits`` applied, in one pass."""
    return _edit(path, text, edits)[0]


def _edit(path: Path, text: str, edits: list[Edit]) -> tuple[str, list[Item], list[list[str] | None]]:
    """The edited text, the file's items as read, and the tag list each should have afterwards."""
    items, problems = read_items(path)
    if problems:
        raise FalcoCoverageError("cannot edit a file that does not parse", file=path)
    newline = "\r\n" if "\r\n" in text else "\n"
    where = _index(items)
    expected: list[list[str] | None] = [list(t) if isinstance(t := it.data.get("tags"), list) else None
                                        for it in items]
    changes: set[tuple[int, int, str]] = set()
    added: dict[int, list[str]] = {}  # item number of the list's first holder -> tags to add
    keyed: dict[int, list[str]] = {}  # item number of a rule without a tag list -> its new tags
    for e in edits:
        if e.action == "add_key":
            _take_key(e, items, keyed, expected, path)
            continue
        hits = where.get((e.line, e.old))
        if not hits:
            raise FalcoCoverageError(f"tag '{e.old}' of rule '{e.rule}' not found where expected", file=path,
                                     line=e.line)
        k, i = hits[0]
        item = items[k]
        span = item.tag_spans[i]
        if e.action == "replace":
            token = text[span.start:span.end]
            q = token[0] if token[:1] in ("'", '"') else ""
            changes.add((span.start, span.end, f"{q}{e.new}{q}"))
        elif e.action == "remove":
            changes.add(_removal(text, item, i, newline))
        else:
            pending = added.setdefault(k, [])
            if e.new not in pending:
                pending.append(str(e.new))
        for kk, _ in hits:  # every item sharing the list (an alias) sees the edit
            tags = expected[kk]
            if tags is not None:
                _apply_to_list(e, tags)
    changes.update(_addition(text, items[k], new_tags, newline) for k, new_tags in added.items())
    for k, new_tags in keyed.items():
        changes.add(_new_key(text, items[k], new_tags, newline))
    ordered = sorted(changes)
    for (s1, e1, _), (s2, _, _) in zip(ordered, ordered[1:]):
        if s2 < e1 or (s1 == s2 == e1):
            raise FalcoCoverageError("two edits meet in one tag list (shared through a YAML anchor/alias?); "
                                     "edit it by hand", file=path, line=text.count("\n", 0, s1) + 1)
    pieces, pos = [], 0
    for start, end, repl in ordered:
        pieces += [text[pos:start], repl]
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), items, expected


def _take_key(e: Edit, items: list[Item], keyed: dict[int, list[str]], expected: list[list[str] | None],
              path: Path) -> None:
    """Note an ``add_key`` edit on the item it names (a rule defined at its line without a tag list)."""
    k = next((k for k, it in enumerate(items) if it.line == e.line and it.data.get("rule") == e.rule
              and not isinstance(it.data.get("tags"), list)), None)
    if k is None:
        raise FalcoCoverageError(f"rule '{e.rule}' without a tag list not found where expected", file=path,
                                 line=e.line)
    keyed.setdefault(k, [])
    if e.new not in keyed[k]:
        keyed[k].append(str(e.new))
    expected[k] = list(keyed[k])


def _addition(text: str, item: Item, new_tags: list[str], newline: str) -> tuple[int, int, str]:
    """The text that appends ``new_tags`` to the item's tag list, in its style (flow or block)."""
    last = item.tag_spans[-1]
    if item.tags_flow:
        return last.end, last.end, "".join(f", {t}" for t in new_tags)
    line_start = text.rfind("\n", 0, last.start) + 1
    prefix = text[line_start:last.start]
    eol = text.find(newline, last.end)
    eol = len(text) if eol == -1 else eol
    return eol, eol, "".join(f"{newline}{prefix}{t}" for t in new_tags)


def _new_key(text: str, item: Item, tags: list[str], newline: str) -> tuple[int, int, str]:
    """A ``tags:`` line after the item's last value, indented like its keys."""
    line = f"{' ' * item.key_column}tags: [{', '.join(tags)}]"
    pos = item.end
    if pos > 0 and text[pos - 1:pos] == "\n":  # a block value ends with its line: insert before the next
        return pos, pos, line + newline
    eol = text.find(newline, pos)
    if eol == -1:  # the last line of a file without a final newline
        return len(text), len(text), newline + line
    return eol + len(newline), eol + len(newline), line + newline


def _removal(text: str, item: Item, i: int, newline: str = "\n") -> tuple[int, int, str]:
    spans = item.tag_spans
    span = spans[i]
    if item.tags_flow:
        if i + 1 < len(spans):
            return span.start, spans[i + 1].start, ""
        if i > 0:
            return spans[i - 1].end, span.end, ""
        return span.start, span.end, ""
    line_start = text.rfind("\n", 0, span.start) + 1
    eol = text.find(newline, span.end)
    return line_start, (len(text) if eol == -1 else eol + len(newline)), ""


def apply(edits: list[Edit], *, write: bool) -> dict[str, tuple[str, str]]:
    """Apply ``edits`` per file; returns ``{file: (old_text, new_text)}``.

    With ``write`` each file is saved atomically through a symlink, keeping its mode, owner, group,
    byte-order mark and line endings; the written file is read back, and if it does not hold exactly
    the intended tags (and nothing else changed) the original is put back and the fix is refused.
    """
    by_file: dict[str, list[Edit]] = defaultdict(list)
    for e in edits:
        by_file[e.file].append(e)
    out: dict[str, tuple[str, str]] = {}
    for file, file_edits in by_file.items():
        path = Path(file)
        raw = path.read_bytes()
        bom = raw.startswith(codecs.BOM_UTF8)
        old = raw[len(codecs.BOM_UTF8):].decode("utf-8") if bom else raw.decode("utf-8")
        new, items, expected = _edit(path, old, file_edits)
        out[file] = (old, new)
        if write and new != old:
            _write_checked(path, raw, (codecs.BOM_UTF8 if bom else b"") + new.encode("utf-8"), items, expected)
    return out


def _write_checked(path: Path, original: bytes, data: bytes, before: list[Item],
                   expected: list[list[str] | None]) -> None:
    target = Path(os.path.realpath(path))  # write through a symlink, never replace it
    try:
        atomic_write(target, data)
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write: {exc.strerror or exc}", file=path) from None
    after, problems = read_items(target)
    same = not problems and len(after) == len(before) and all(
        {k: v for k, v in a.data.items() if k != "tags"} == {k: v for k, v in b.data.items() if k != "tags"}
        and (a.data.get("tags") if isinstance(a.data.get("tags"), list) else None) == want
        for a, b, want in zip(after, before, expected))
    if not same:
        atomic_write(target, original)
        raise FalcoCoverageError("the fixed file would not load as intended; it was left as it was (please report "
                                 "this with the file)", file=path)


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
        for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                         fromfile=f"a/{name}", tofile=f"b/{name}"):
            # a last line without its newline: the marker patch and git apply expect after it
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)
