"""Tag checks for when ATT&CK moves: retired tactics, renamed tactic IDs, and a transition between releases.

They read the :class:`~falco_coverage.analysis.tags.migrate.Migration` from the release the tags were
most likely written for (``--also-attack``, else the newest older built-in release) to the one
checked, so every replacement is derived from the two releases.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...codes import REGISTRY
from ...config import CheckConfig
from ...findings import Finding
from ...rules.tags import tactic_tag
from .tag_index import RuleTags, TagContext, join_words, parse_tag


@REGISTRY.check("retired-tactic")
def _retired(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    m = ctx.migration
    if m is None:
        return
    for e in rt.entries:
        p = e.parsed
        if p is None or p.kind != "tactic" or p.value not in m.retired:
            continue
        heirs = m.heirs.get(p.value, [])
        names = join_words([f"{tactic_tag(h)} ({ctx.idx.tactic_name.get(h, h)})" for h in heirs])
        head = (f"'{e.tag}' names {m.old_name(p.value)}, a tactic of ATT&CK {m.old.version} that ATT&CK "
                f"{m.new.version} retired (its techniques went to {names or 'no tactic'})")
        replacement = m.replacement(p.value, list(rt.techniques))
        if replacement is None:  # no technique to go by: the heir that kept the tactic's ID
            suggestion = tactic_tag(heirs[0]) if heirs else None
            tail = (f"; the rule names no technique: {suggestion} keeps the tactic's ID, or pick another"
                    if suggestion else "")
        elif replacement:
            suggestion = ", ".join(tactic_tag(r) for r in replacement)
            tail = f"; for this rule's techniques use {suggestion}"
        else:
            suggestion = None
            tail = "; none of this rule's techniques belongs to its successors: remove the tag"
        yield rt.finding("retired-tactic", head + tail, e, suggestion=suggestion, tactic=p.value)


@REGISTRY.check("tactic-renamed")
def _renamed(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    m = ctx.migration
    if m is None or not rt.techniques:  # without techniques, the ID's new meaning is all there is
        return
    idx = ctx.idx
    for e in rt.entries:
        p = e.parsed
        if p is None or p.kind != "tactic_id" or p.value not in m.renamed:
            continue
        old_short, new_short = m.renamed[p.value]
        now = [f for f in (m.fate(t) for t in rt.techniques) if f]
        tactics = {t for f in now for t in m.new_tactics(f)}
        if not now or new_short in tactics:
            continue  # the techniques still fit the ID's new meaning
        fits = [h for h in m.heirs.get(old_short, []) if h in tactics and h in idx.tactic_id]
        suggestion = idx.tactic_id[fits[0]] if fits else None
        hint = f"; this rule's techniques are {idx.tactic_name[fits[0]]}: tag {suggestion}" if fits else ""
        yield rt.finding("tactic-renamed", f"{p.value} was {old_short} and is {new_short} after {m.label}, which "
                         f"this rule's techniques are not{hint}", e, suggestion=suggestion, tactic=new_short)


#: codes whose tag may simply belong to the other release during a transition
_RELEASE_BOUND = {"unknown-tactic", "unknown-technique", "revoked-technique", "deprecated-technique",
                  "retired-tactic", "tactic-renamed", "malformed-tag"}


def accept_other_release(found: list[Finding], ctx: TagContext, cfg: CheckConfig) -> list[Finding]:
    """In a transition (``ctx.also``), a finding on a tag that is valid in the other release becomes an
    info finding saying which release it belongs to."""
    other = ctx.also
    if other is None:
        return found
    out: list[Finding] = []
    replaced: set[tuple[str, str | None]] = set()
    for f in found:
        p = parse_tag(f.tag, other) if f.tag and f.code in _RELEASE_BOUND else None
        valid = p is not None and not p.malformed and (
            (p.kind == "technique" and other.active(p.value)) or (p.kind == "tactic" and p.value in other.tactic_name)
            or (p.kind == "tactic_id" and p.value in other.tactic_by_id))
        if not valid:
            out.append(f)
        elif (f.rule, f.tag) not in replaced:
            replaced.add((f.rule, f.tag))
            note = Finding("other-release-tag", f.rule, f"'{f.tag}' is valid in {other.release()}, not in "
                           f"{ctx.idx.release()}; accepted while both releases are in use", f.location, tag=f.tag,
                           enabled=f.enabled)
            out.extend(REGISTRY.keep([note], cfg))
    return out

