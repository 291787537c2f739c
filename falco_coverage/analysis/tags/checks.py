"""ATT&CK tag checks on resolved Falco rules: one small function per finding code.

``check(ruleset, attack)`` returns the findings table (columns in :mod:`falco_coverage.columns`).
Each check compares sets, never counts: a technique is right under a tactic when that tactic is
among the technique's kill-chain phases in the ATT&CK release used. The codes, severities and
summaries are declared in :mod:`falco_coverage.codes`; the functions attach to that registry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ...attack import AttackData
from ...codes import REGISTRY, SUGGESTED_CODES
from ...config import CheckConfig, load_config
from ...findings import Finding, Location, findings_frame
from ...rules import RuleSet
from ...rules.tags import DATA_SOURCE_RE, AttackTag, tactic_tag
from .load_findings import load_findings, own_findings
from . import detection_fit  # noqa: F401  (registers analytic-mismatch)
from . import migration_checks  # noqa: F401  (registers the checks of tags ATT&CK moved)
from .migrate import Migration, migration_to
from .tag_index import RULE_COLUMNS, AttackIndex, RuleTags, TagContext, join_words, normalize, parse_tag, rule_tags


def _names_nothing(p: AttackTag, idx: AttackIndex) -> bool:
    """A tactic reference to no tactic of the release: ``unknown-tactic``'s business, not a spelling fix."""
    return (p.kind == "tactic" and p.value not in idx.tactic_name) or (
        p.kind == "tactic_id" and p.value not in idx.tactic_by_id)


@REGISTRY.check("malformed-tag")
def _malformed(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    for e in rt.entries:
        if e.parsed and e.parsed.malformed and not _names_nothing(e.parsed, ctx.idx):
            yield rt.finding("malformed-tag", f"'{e.tag}' is not how Falco rules write ATT&CK references; "
                             f"the canonical tag is '{e.parsed.canonical}'", e, suggestion=e.parsed.canonical,
                             technique_id=e.parsed.value if e.parsed.kind == "technique" else None)


@REGISTRY.check("unknown-technique")
def _unknown_technique(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid, e in rt.techniques.items():
        if tid in idx.tech:
            continue
        parent = tid.split(".")[0]
        hint = f"; its parent {idx.label(parent)} exists" if "." in tid and parent in idx.tech else ""
        yield rt.finding("unknown-technique", f"{tid} is not a technique in {idx.release()}{hint}", e,
                         technique_id=tid)


@REGISTRY.check("revoked-technique")
def _revoked(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid, e in rt.techniques.items():
        row = idx.tech.get(tid)
        if row and row["revoked"]:
            new = row["replaced_by"] if isinstance(row["replaced_by"], str) else None
            tail = f" and replaced by {idx.label(new)}" if new else " with no replacement"
            suggestion = new
            # the replacement and its tactic go together: a tactic tag the rule lacks comes along
            moved = list(idx.tech[new]["tactics"]) if new in idx.tech else []
            if new and rt.tactics and len(moved) == 1 and moved[0] not in rt.tactics:
                suggestion = f"{new}, {tactic_tag(moved[0])}"
                tail += f", which is {idx.tactic_name[moved[0]]}"
            yield rt.finding("revoked-technique", f"{idx.label(tid)} was revoked in {idx.release()}{tail}", e,
                             technique_id=tid, suggestion=suggestion)


@REGISTRY.check("deprecated-technique")
def _deprecated(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid, e in rt.techniques.items():
        row = idx.tech.get(tid)
        if row and row["deprecated"] and not row["revoked"]:
            yield rt.finding("deprecated-technique", f"{idx.label(tid)} is deprecated in {idx.release()}; "
                             "choose a current technique", e, technique_id=tid)


#: informal words for tactics, by tactic ID (so they follow a tactic that is renamed)
_SYNONYMS = {"privesc": "TA0004", "c2": "TA0011", "cnc": "TA0011", "exfil": "TA0010", "recon": "TA0043",
             "lateral": "TA0008", "evasion": "TA0005", "creds": "TA0006", "credentials": "TA0006",
             "initial": "TA0001", "resource": "TA0042"}


def nearest_tactic(value: str, idx: AttackIndex) -> str | None:
    """The tactic a misspelt shortname most likely means, when one stands out."""
    if _SYNONYMS.get(value) in idx.tactic_by_id:
        return idx.tactic_by_id[_SYNONYMS[value]]
    close = difflib.get_close_matches(value, idx.tactic_order, n=2, cutoff=0.75)
    if len(close) == 1:
        return close[0]
    if len(close) == 2:
        a, b = (difflib.SequenceMatcher(None, value, c).ratio() for c in close)
        return close[0] if a - b > 0.1 else None
    return None


@REGISTRY.check("unknown-tactic")
def _unknown_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for e in rt.entries:
        p = e.parsed
        if p is None or p.kind == "technique":
            continue
        if p.kind == "tactic" and p.value not in idx.tactic_name:
            if ctx.migration is not None and p.value in ctx.migration.retired:
                continue  # retired-tactic says where it went
            near = nearest_tactic(p.value, idx)
            tid, prefix = (None, None) if near else technique_named(p.value, idx)
            if near:
                hint, suggestion = f"; did you mean {tactic_tag(near)} ({idx.tactic_name[near]})?", tactic_tag(near)
            elif tid:
                also = f" and the tactic {tactic_tag(prefix)}" if prefix else ""
                hint = f"; it names the technique {idx.label(tid)}: tag {tid}{also} instead"
                suggestion = ", ".join([tid] + ([tactic_tag(prefix)] if prefix else []))
            else:
                hint, suggestion = "", None
            yield rt.finding("unknown-tactic", f"'{e.tag}' names no tactic of {idx.release()}{hint}", e,
                             suggestion=suggestion, technique_id=tid, tactic=prefix)
        elif p.kind == "tactic_id" and p.value not in idx.tactic_by_id:
            yield rt.finding("unknown-tactic", f"{p.value} is not a tactic ID of {idx.release()}", e)


@REGISTRY.check("tactic-mismatch")
def _tactic_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    if not rt.tactics:
        return
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        if set(wanted) & rt.tactics.keys():
            continue
        only = tactic_tag(wanted[0]) if len(wanted) == 1 else None
        yield rt.finding(
            "tactic-mismatch",
            f"{idx.label(tid)} belongs to {idx.names(wanted)}, but the rule's tactic tags name "
            f"{idx.names(rt.tactics)}; tag {' or '.join(tactic_tag(w) for w in wanted)}, or pick a technique of "
            f"the tagged tactic", rt.techniques[tid], technique_id=tid, tactic=wanted[0] if only else None,
            suggestion=only)


@REGISTRY.check("missing-tactic")
def _missing_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    retired = ctx.migration.retired if ctx.migration is not None else {}
    if rt.tactics or any(e.parsed and e.parsed.kind == "tactic" and e.parsed.value in retired for e in rt.entries):
        return  # a retired tactic tag: retired-tactic names the replacement
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        only = tactic_tag(wanted[0]) if len(wanted) == 1 else None
        yield rt.finding("missing-tactic", f"{idx.label(tid)} is tagged but the rule has no valid tactic tag; "
                         f"add {' or '.join(tactic_tag(w) for w in wanted)}", rt.techniques[tid],
                         technique_id=tid, tactic=wanted[0] if only else None, suggestion=only)


@REGISTRY.check("unsupported-tactic")
def _unsupported_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    if not rt.active:
        return
    covered = {t for tid in rt.active for t in idx.tech[tid]["tactics"]}
    for short, entries in rt.tactics.items():
        if short in covered:
            continue
        for e in entries:
            yield rt.finding("unsupported-tactic", f"'{e.tag}' ({idx.tactic_name[short]}) is backed by none of "
                             f"the rule's techniques ({join_words([idx.label(t) for t in rt.active])}); tag a "
                             f"technique of {idx.tactic_name[short]} or remove the tag", e, tactic=short)


@REGISTRY.check("tactic-id-mismatch")
def _tactic_id_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    by_id = {s for s, es in rt.tactics.items() if any(e.parsed and e.parsed.kind == "tactic_id" for e in es)}
    by_name = {s for s, es in rt.tactics.items() if any(e.parsed and e.parsed.kind == "tactic" for e in es)}
    if not by_id or not by_name:
        return
    unmatched_names = sorted(by_name - by_id, key=idx.tactic_order.index)
    for short in sorted(by_id - by_name, key=idx.tactic_order.index):
        for e in rt.tactics[short]:
            if e.parsed and e.parsed.kind == "tactic_id":
                fix = idx.tactic_id[unmatched_names[0]] if len(unmatched_names) == 1 else None
                yield rt.finding(
                    "tactic-id-mismatch",
                    f"{e.parsed.value} is {idx.tactic_name[short]}, but the rule's mitre_* tags name "
                    f"{idx.names(by_name)}" + (f"; {idx.tactic_name[unmatched_names[0]]} is {fix}" if fix else ""),
                    e, tactic=short, suggestion=fix)


@REGISTRY.check("platform-mismatch")
def _platform_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    seen = ctx.source_platforms.get(rt.source)
    if not seen:
        return
    lowered = {p.casefold() for p in seen}
    for tid in rt.active:
        platforms = idx.tech[tid]["platforms"]
        if not any(p.casefold() in lowered for p in platforms):
            yield rt.finding("platform-mismatch", f"{idx.label(tid)} applies to {join_words(list(platforms))}; a "
                             f"{rt.source} rule observes {join_words(list(seen))}", rt.techniques[tid], technique_id=tid)


def technique_named(value: str, idx: AttackIndex) -> tuple[str | None, str | None]:
    """The technique a would-be tactic name names (``remote-service`` -> T1021), and the tactic its name
    starts with (``discovery-system-service-discovery`` -> T1007, ``discovery``), when one stands out."""
    prefix = next((t for t in sorted(idx.tactic_name, key=len, reverse=True) if value.startswith(t + "-")), None)
    for candidate in ([value[len(prefix) + 1:]] if prefix else []) + [value]:
        name = normalize(candidate)
        for variant in (name, name + "s", name.removesuffix("s")):
            ids = idx.by_name.get(variant, [])
            if len(ids) == 1:
                return ids[0], prefix
        close = difflib.get_close_matches(name, list(idx.by_name), n=2, cutoff=0.9)
        if len(close) == 1 and len(idx.by_name[close[0]]) == 1:
            return idx.by_name[close[0]][0], prefix
    return None, None


_MENTION = re.compile(r"(?<![A-Za-z0-9])T\d{4}(?:\.\d{3})?(?![0-9])")


def _family(tid: str) -> str:
    return tid.split(".")[0]


#: what a source that maps to no ATT&CK platform (a web server's log, a message stream) may still
#: be about, for matching technique names: the platforms Falco's own hosts and services run on
_SERVER_PLATFORMS = ("Linux", "Containers", "IaaS", "SaaS", "Identity Provider")


@REGISTRY.check("untagged-technique-mention")
def _untagged_mention(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    text = f"{rt.name}\n{rt.desc}"
    by_id = list(dict.fromkeys(_MENTION.findall(text)))
    for tid in by_id:
        if tid not in rt.techniques:
            known = f" ({idx.tech[tid]['name']})" if tid in idx.tech else ""
            yield rt.finding("untagged-technique-mention", f"the rule's name or description mentions "
                             f"{tid}{known}, which is not among its tags", tag=None, technique_id=tid,
                             suggestion=tid)
    # by whole name (two words or more), unless a technique of the same family is tagged or named by ID
    families = {_family(t) for t in [*rt.techniques, *by_id]}
    seen = {p.casefold() for p in (ctx.source_platforms.get(rt.source) or _SERVER_PLATFORMS)}
    for tid in idx.mentioned(text):
        if not any(p.casefold() in seen for p in idx.tech[tid]["platforms"]):
            continue  # a name shared with a technique the rule's source cannot see (Office template injection)
        if _family(tid) not in families:
            families.add(_family(tid))
            yield rt.finding("untagged-technique-mention", f"the rule's name or description names the technique "
                             f"{idx.label(tid)}, but its tags hold no technique of that family", tag=None,
                             technique_id=tid, suggestion=tid)


@REGISTRY.check("tags-key-typo")
def _tags_key_typo(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    for extra in rt.ignored_keys:
        key = str(extra["key"])
        if key.casefold() != "tags" and difflib.SequenceMatcher(None, key.casefold(), "tags").ratio() < 0.75:
            continue
        value = extra["value"]
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        lost = [v for v in values if parse_tag(v, ctx.idx) is not None or DATA_SOURCE_RE.fullmatch(v.strip())]
        what = f"its ATT&CK tags ({', '.join(lost)}) are lost" if lost else f"its values ({', '.join(values)}) are lost"
        yield Finding("tags-key-typo", rt.name, f"key '{key}' is not 'tags': Falco ignores it, so {what}",
                      extra["location"], tag=None, suggestion="tags", enabled=rt.enabled)


@REGISTRY.check("data-source-tag")
def _data_source_tag(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    for e in rt.entries:
        if e.parsed is None and DATA_SOURCE_RE.fullmatch(e.tag.strip()):
            yield rt.finding("data-source-tag", f"'{e.tag}' is an ATT&CK data source ID, not a technique or tactic; "
                             "tag the technique the rule detects (T####) instead", e)


@REGISTRY.check("partial-tactics")
def _partial_tactics(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        have = set(wanted) & rt.tactics.keys()
        missing = [w for w in wanted if w not in have]
        if have and missing:
            yield rt.finding("partial-tactics", f"{idx.label(tid)} also belongs to {idx.names(missing)}, "
                             "which the rule does not tag", rt.techniques[tid], technique_id=tid,
                             suggestion=", ".join(tactic_tag(m) for m in missing))


@REGISTRY.check("tactic-only")
def _tactic_only(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    has_tactic = any(e.parsed and e.parsed.kind != "technique" for e in rt.entries)
    if has_tactic and not rt.techniques:
        yield rt.finding("tactic-only", "the rule has tactic tags but no technique tag; add the technique it "
                         "detects (T####)", tag=None)


@REGISTRY.check("redundant-parent")
def _redundant_parent(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid in rt.techniques:
        parent = tid.split(".")[0]
        if "." in tid and parent in rt.techniques:
            yield rt.finding("redundant-parent", f"{idx.label(parent)} is the parent of {idx.label(tid)}, which "
                             "is also tagged; the sub-technique alone is more precise", rt.techniques[parent],
                             technique_id=parent)


@REGISTRY.check("no-mitre-tags")
def _no_mitre(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    if not any(e.parsed for e in rt.entries):
        yield rt.finding("no-mitre-tags", "the rule has no ATT&CK tag", tag=None)


# --- running them ----------------------------------------------------------------------------------

def context(attack: AttackData, cfg: CheckConfig, also: AttackData | None = None) -> TagContext:
    """What the tag checks consult: the release, the migration from the previous one (``also``, else
    the newest older built-in release), the sources' platforms and the configured tag aliases."""
    migration: Migration | None = None
    if also is not None and also.version != attack.version:
        migration = Migration(also, attack)
    elif also is None:
        migration = migration_to(attack)
    return TagContext(AttackIndex.of(attack), cfg.source_platforms, migration,
                      AttackIndex.of(also) if also is not None else None, dict(cfg.tag_aliases), attack,
                      dict(cfg.sensors))


def check(ruleset: RuleSet, attack: AttackData, *, config: CheckConfig | str | Path | None = None,
          include_load: bool = True, also: AttackData | None = None, suggest: bool = True) -> pd.DataFrame:
    """Check the ATT&CK tags of every resolved rule (disabled ones included); one row per finding.

    With ``include_load`` the rule-loading diagnostics come too (errors Falco would refuse to start
    with, and its warnings), as findings of the same table. When some files were loaded as the base,
    only findings in the user's own files are kept (a base rule the user changed is the user's).
    ``also`` is a second release accepted during a transition: a tag valid in it is an info finding
    (``other-release-tag``) instead of an error. With ``suggest``, ``no-mitre-tags`` and ``tactic-only``
    findings carry the rule's confident technique suggestion (:mod:`.suggest`), when it has one.
    """
    cfg = config if isinstance(config, CheckConfig) else load_config(config)
    ctx = context(attack, cfg, also)
    idx = ctx.idx
    rows = ruleset.rules[RULE_COLUMNS].to_dict("records")
    retired = ctx.migration.retired if ctx.migration is not None else ()
    subjects = (rule_tags(row, idx, _rule_location(row, ruleset), ctx.aliases, retired) for row in rows)
    found = migration_checks.accept_other_release(REGISTRY.run("tag", subjects, ctx, cfg), ctx, cfg)
    df = own_findings(findings_frame(found, REGISTRY.codes("load") + REGISTRY.codes("tag")), ruleset)
    if suggest and df["code"].isin(SUGGESTED_CODES).any():
        from ..suggest.ranking import attach_suggestions

        df = attach_suggestions(df, ruleset, attack, cfg)
    if include_load:
        load = load_findings(ruleset, config=cfg)
        df = pd.concat([load.astype({"code": df["code"].dtype}), df], ignore_index=True) if len(load) else df
    return df.sort_values(["file", "line", "severity", "code"], kind="stable", ignore_index=True)


def _rule_location(row: dict[str, Any], ruleset: RuleSet) -> Location:
    """Where a rule-level finding goes: the rule's definition, or for a base rule the user changed, the
    user's last change."""
    here = Location(row["file"], int(row["line"]))
    if ruleset.base_files and not ruleset.is_own(row["file"]):
        own = [loc for loc in row["changed_at"] if ruleset.is_own(loc.file)]
        return own[-1] if own else here
    return here
