"""Suggest ATT&CK techniques for rules: ranked, with their tactics, a score, a confidence and the evidence.

``suggest(rules, attack)`` ranks, for each rule, the active techniques on the platforms of the rule's
source (every technique when the source maps to none) with the model of :mod:`.suggest_model`: its
nearest tagged neighbours (the loaded set and the built-in corpus, never itself), ATT&CK's own
words for each technique (name, description, analytics, procedure examples) and how often rules
carry it. A rule tagged only with tactics is ranked among the techniques of those tactics.

A technique's tactics are its own kill-chain phases in the release used. ``confident`` marks the
first suggestion of a rule when the ranker's probability reaches :data:`CONFIDENT`, the rule's
source maps to ATT&CK platforms and the ranker was fitted (on five tagged rules or more): what
``check`` shows and ``fix --suggest`` writes. A technique
with no evidence at all (no neighbour votes for it and no word shared with ATT&CK's text) is never
suggested, and a rule with no words at all (no name, description, output or condition value worth
matching) gets no rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...codes import SUGGESTED_CODES
from ...columns import columns, conform
from ...config import DEFAULT_SOURCE_PLATFORMS
from ...rules.tags import parse_attack_tag, tactic_tag
from .model import Corpus, Model, builtin_corpus, model_for
from .text import TECHNIQUE_FIELDS, rule_words, surface

if TYPE_CHECKING:
    from ...attack import AttackData
    from ...config import CheckConfig
    from ..coverage.compute import Coverage
    from ...rules import RuleSet

#: the ranker's probability from which a rule's first suggestion is confident
CONFIDENT = 0.7
_FIELD_WORDS = {"name": "its name", "description": "its description", "analytics": "its analytics",
                "procedures": "its procedure examples"}


def suggest(rules: RuleSet | pd.DataFrame, attack: AttackData, *, top: int = 3, only: Iterable[str] | None = None,
            corpus: Corpus | None = None, builtin: bool = True,
            source_platforms: Mapping[str, list[str]] | None = None) -> pd.DataFrame:
    """Ranked technique suggestions for the rules of ``rules`` (a RuleSet: its own rules, not the base's).

    ``only`` keeps the rules of those names. The model learns from the tagged rules of ``rules`` (base
    included), ``corpus`` and, unless ``builtin=False``, the built-in corpus of falcosecurity's rules.
    ``source_platforms`` adds to or replaces the source -> ATT&CK platform map. Columns:
    ``suggest.suggestions`` in :mod:`falco_coverage.columns`.
    """
    frame = rules if isinstance(rules, pd.DataFrame) else rules.rules
    learn = Corpus.from_rules(frame)
    if corpus is not None:
        learn = corpus.merged(learn)
    if builtin:
        learn = builtin_corpus().merged(learn)
    wanted = frame
    if "origin" in frame.columns:
        wanted = wanted[wanted["origin"].astype(str) != "base"]
    if only is not None:
        names = set(only)
        wanted = wanted[wanted["name"].isin(names)]
    if wanted.empty:
        return conform(pd.DataFrame(columns=columns("suggest.suggestions")), "suggest.suggestions")
    model = model_for(attack, learn, {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})})
    return rank(model, wanted.to_dict("records"), attack, top=top)


#: rules ranked together: the feature tensor is rules x techniques x features, ~80 MB per 1,000 rules
CHUNK = 500


def rank(model: Model, records: list[dict[str, Any]], attack: AttackData, *, top: int = 3) -> pd.DataFrame:
    """The suggestions ``model`` makes for rule ``records`` (rows of the rules frame), :data:`CHUNK`
    rules at a time so memory stays flat however many rules there are (each rule is ranked alone)."""
    if len(records) <= CHUNK:
        return _rank(model, records, attack, top)
    parts = [_rank(model, records[k:k + CHUNK], attack, top) for k in range(0, len(records), CHUNK)]
    return conform(pd.concat(parts, ignore_index=True), "suggest.suggestions")


def _rank(model: Model, records: list[dict[str, Any]], attack: AttackData, top: int) -> pd.DataFrame:
    idx = model.index
    words_of = [rule_words(r) for r in records]
    text = [w.text for w in words_of]
    conds = [w.conditions for w in words_of]
    sigs = [w.signature for w in words_of]
    names = [str(r["name"]) for r in records]
    sources = [str(r.get("source") or "") for r in records]
    masks = model.masks(sources)
    for i, r in enumerate(records):
        masks[i] &= _tactic_mask(r, attack, model)
    x, sim = model.feature_tensor(text, conds, sigs, names, masks)
    scores = model.scores(x)
    votes = x[..., model.features.index("neighbours")] if "neighbours" in model.features else np.zeros(scores.shape)
    words = sum(x[..., model.features.index(f"attack_{f}")] for f in TECHNIQUE_FIELDS
                if f"attack_{f}" in model.features)
    evident = masks & ((votes > 0) | (np.asarray(words) > 0))
    rows = []
    for i, r in enumerate(records):
        if not text[i] and not conds[i]:  # nothing but fields: no words to go on
            continue
        s = np.where(evident[i], scores[i], -1.0)
        order = [j for j in np.argsort(-s, kind="stable")[:top] if s[j] >= 0]
        known = model.platforms(sources[i]) is not None and model.fitted
        said = surface(" ".join(str(r.get(k) or "") for k in ("name", "desc", "output"))
                       + " " + " ".join(words_of[i].values))
        for rank_, j in enumerate(order, 1):
            tid = idx.ids[j]
            rows.append((names[i], rank_, tid, idx.names[tid], list(idx.tactics[j]), float(scores[i, j]),
                         bool(rank_ == 1 and known and scores[i, j] >= CONFIDENT),
                         _evidence(model, i, j, text[i] + conds[i], said, sim, set(sigs[i]), set(conds[i]))))
    return conform(pd.DataFrame(rows, columns=columns("suggest.suggestions")), "suggest.suggestions")


def _tactic_mask(rule: dict[str, Any], attack: AttackData, model: Model) -> np.ndarray:
    """For a rule tagged with tactics but no technique: the techniques of those tactics (when the
    release knows any of them); every technique otherwise."""
    everything = np.ones(len(model.index.ids), dtype=bool)
    if rule.get("technique_tags"):
        return everything
    by_id = dict(zip(attack.tactics["tactic_id"], attack.tactics["shortname"]))
    known = set(attack.tactics["shortname"])
    wanted = set()
    for tag in rule.get("tactic_tags") or []:
        parsed = parse_attack_tag(tag)
        if parsed is not None:
            wanted.add(by_id.get(parsed.value, parsed.value))
    wanted &= known
    if not wanted:
        return everything
    return np.array([bool(wanted.intersection(ts)) for ts in model.index.tactics])


#: a signature token in more than about half the corpus (``evt.type``) says nothing about two rules
_COMMON_IDF = 1.7


def _shared(model: Model, signature: set[str], conditions: set[str], other: tuple[str, ...],
            said: dict[str, str]) -> str:
    """What two rules' conditions have in common: values tested, macros and lists, fields (at most 5)."""
    index = model.signatures
    both = {w for w in signature.intersection(other)
            if w in index.column and float(index.idf[index.column[w]]) >= _COMMON_IDF}
    values = sorted(said.get(w, w) for w in both & conditions)
    names = sorted(w[2:] for w in both if w.startswith("m:"))
    fields = sorted(w[2:] for w in both if w.startswith("f:"))
    picked = (values + names + fields)[:5]
    return f"; both test {', '.join(picked)}" if picked else ""


def _evidence(model: Model, i: int, j: int, query: list[str], said: dict[str, str], sim: np.ndarray,
              signature: set[str], conditions: set[str]) -> list[str]:
    """What supports technique ``j`` for rule ``i``: the neighbours that carry it (and what their
    conditions share), the words shared with ATT&CK."""
    idx, corpus = model.index, model.corpus
    out = []
    family = idx.family[j]
    near = [k for k in np.argsort(-sim[i])[:5] if sim[i, k] > 0 and
            any(idx.pos.get(t) is not None and idx.family[idx.pos[t]] == family for t in corpus.techniques[k])]
    for k in near[:3]:
        out.append(f"similar rule '{corpus.names[k]}' ({sim[i, k]:.2f}) is tagged {', '.join(corpus.techniques[k])}"
                   + _shared(model, signature, conditions, corpus.signatures[k], said))
    q = set(query)
    for f in ("name", "description", "analytics", "procedures"):
        terms = idx.fields[f]
        shared = q.intersection(terms.document_terms(j))
        if not shared:
            continue
        best = sorted(shared, key=lambda w: (-float(terms.idf[terms.column[w]]), w))[:5]
        out.append(f"{_FIELD_WORDS[f]} in ATT&CK shares: {', '.join(said.get(w, w) for w in best)}")
    return out


def new_tags(row: Mapping[str, Any], rule_tags: Iterable[str] = ()) -> list[str]:
    """The tags a confident suggestion adds: the technique, and its tactic when it has exactly one the
    rule does not carry yet."""
    have = set(rule_tags)
    tags = [str(row["technique_id"])]
    tactics = list(row["tactics"])
    if len(tactics) == 1 and tactic_tag(tactics[0]) not in have:
        tags.append(tactic_tag(tactics[0]))
    return [t for t in tags if t not in have]


def attach_suggestions(findings: pd.DataFrame, ruleset: RuleSet, attack: AttackData,
                       config: CheckConfig | None = None) -> pd.DataFrame:
    """``findings`` with each ``no-mitre-tags``/``tactic-only`` finding's ``suggestion`` set to the tags
    of the rule's confident suggestion (``T1611, mitre_privilege_escalation``) and its message saying
    why, when the rule has one."""
    mask = findings["code"].isin(SUGGESTED_CODES)
    names = set(findings.loc[mask, "rule"])
    if not names:
        return findings
    plats = dict(config.source_platforms) if config is not None else None
    found = suggest(ruleset, attack, top=1, only=names, source_platforms=plats)
    best = {r["rule"]: r for r in found[found["confident"]].to_dict("records")}
    tags_of = dict(zip(ruleset.rules["name"], ruleset.rules["tags"]))
    out = findings.copy()
    for i in out.index[mask]:
        row = best.get(out.at[i, "rule"])
        if row is None:
            continue
        tags = new_tags(row, tags_of.get(row["rule"], []))
        if not tags:
            continue
        out.at[i, "suggestion"] = ", ".join(tags)
        out.at[i, "message"] = (f"{out.at[i, 'message']}; suggested: {row['technique_id']} ({row['name']}), "
                                f"score {row['score']:.2f}")
    return out


def coverage_suggestions(cov: Coverage, ruleset: RuleSet, attack: AttackData,
                         source_platforms: Mapping[str, list[str]] | None = None,
                         builtin: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For a coverage: the first suggestion of each rule in its scope with no technique tag (untagged or
    tactic-only; the user's own rules when some were loaded as the base), and per tactic the applicable
    top-level techniques not covered that the confident ones would add. Suggestions only: the coverage
    itself is unchanged. The second frame has ``tactic``, ``name``, ``applicable``, ``covered`` (as in
    ``coverage.tactics``) and ``would_add``."""
    from ..coverage.compute import scope_rules

    sc = cov.scope
    rules = scope_rules(ruleset.rules, sc.enabled_only, sc.maturities, sc.min_priority, sc.sources)
    untagged = rules[rules["technique_tags"].map(len) == 0]
    found = suggest(ruleset, attack, top=1, only=set(untagged["name"]), source_platforms=source_platforms,
                    builtin=builtin)
    t = cov.techniques
    top = t[t["parent_id"].isna()]
    open_cells = set(zip(top.loc[~top["covered"], "tactic"].astype(str), top.loc[~top["covered"], "technique_id"]))
    adds: dict[str, set[str]] = {}
    for tid, tactics in zip(found.loc[found["confident"], "technique_id"], found.loc[found["confident"], "tactics"]):
        parent = tid.split(".", 1)[0]
        for tactic in tactics:
            if (tactic, parent) in open_cells:
                adds.setdefault(tactic, set()).add(parent)
    per_tactic = cov.tactics[["tactic", "name", "applicable", "covered"]].copy()
    per_tactic["would_add"] = per_tactic["tactic"].map(lambda s: len(adds.get(s, ()))).astype("int64")
    return found, per_tactic.reset_index(drop=True)
