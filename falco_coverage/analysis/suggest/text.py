"""The words suggestions match: a rule's, and ATT&CK's for each technique, as token lists.

A rule has two bags of tokens. Its *text* (name, three times, description and output without its
``%field`` placeholders) is what ATT&CK's prose is matched against. Its *signature* adds what the
expanded condition tests (paths, binaries, specific event types), the fields it reads (``f:proc.name``)
and the macros and lists it uses (``m:spawned_process``): what two rules that detect the same
thing share, for the nearest-neighbour signal. A technique has one document per ATT&CK field (its
name, description, analytics, procedure examples), weighed separately by the ranker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..tags.detection_fit import GENERIC_EVT_TYPES, rule_terms

_WORD = re.compile(r"[a-z0-9]+")
_PLACEHOLDER = re.compile(r"%[\w.\[\]]+|\b\w[\w.]*=")
#: English function words, and Falco words every rule uses
_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on
once only or other our out over own same she should so some such than that the their them then there these
they this those through to too under until up very was we were what when where which while who whom why will
with would you your may via using used use e g eg etc including include includes within without well
proc evt fd container user name id cmdline pname exe pid ppid image repository tag terminal flags res info
rule detect detects detected detection attempt attempts potential possible suspicious
""".split())
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s")


def stem(word: str) -> str:
    """A light suffix strip, so that most plural, ``-ing`` and ``-ed`` forms of a word meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def tokens(text: Any) -> list[str]:
    """Lower-case stemmed words of ``text`` without stop words; numbers of three digits or more
    (ports) are kept; ``[]`` for anything that is not text."""
    if not isinstance(text, str):
        return []
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP or len(w) < 2 or (w.isdigit() and len(w) < 3):
            continue
        out.append(stem(w))
    return out


def surface(text: Any) -> dict[str, str]:
    """Each token of ``text`` -> the first word of ``text`` it came from, to show evidence in the rule's words."""
    out: dict[str, str] = {}
    if isinstance(text, str):
        for w in _WORD.findall(text.lower()):
            out.setdefault(stem(w), w)
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def condition_words(rule: dict[str, Any]) -> list[str]:
    """What the rule's expanded condition tests (outside its negations) and its specific event types."""
    words = sorted(rule_terms(rule.get("expanded_condition")))
    evts = rule.get("evt_types")
    if isinstance(evts, list):
        words += [e for e in evts if e not in GENERIC_EVT_TYPES]
    return words


def rule_text(rule: dict[str, Any]) -> list[str]:
    """The tokens of a rule's name (three times: it is the densest), description and output."""
    output = _PLACEHOLDER.sub(" ", _text(rule.get("output")))
    return tokens(" ".join([_text(rule.get("name"))] * 3 + [_text(rule.get("desc")), output]))


class RuleWords(NamedTuple):
    """A rule's tokens, each worked out once (the condition is parsed once)."""

    #: name (three times), description, output
    text: list[str]
    #: the condition's values and specific event types, as written
    values: list[str]
    #: ``values`` as tokens
    conditions: list[str]
    #: text, conditions, ``f:field`` and ``m:macro_or_list`` tokens: what neighbours compare
    signature: list[str]


def rule_words(rule: dict[str, Any]) -> RuleWords:
    """The tokens of a rule (a row of the rules frame)."""
    def as_list(v: Any) -> list[str]:
        return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []

    text = rule_text(rule)
    values = condition_words(rule)
    conditions = tokens(" ".join(values))
    signature = (text + conditions + [f"f:{f}" for f in as_list(rule.get("fields"))]
                 + [f"m:{m}" for m in as_list(rule.get("macros_used")) + as_list(rule.get("lists_used"))])
    return RuleWords(text, values, conditions, signature)


#: the fields of a technique's documents the ranker weighs apart
TECHNIQUE_FIELDS = ("all", "name", "description", "analytics", "procedures", "family")


def technique_documents(names: dict[str, str], text: dict[str, tuple[str, str, list[str]]],
                        analytics: dict[str, str], ids: Iterable[str]) -> dict[str, list[list[str]]]:
    """Per field of :data:`TECHNIQUE_FIELDS`, the token list of each technique of ``ids`` (in order).

    ``names`` maps an ID to its name; ``text`` to (description, detection text, procedure examples);
    ``analytics`` to its analytics' descriptions joined. A sub-technique's name is read with its
    parent's, the way ATT&CK shows it (``Scheduled Task/Job: Cron``).
    """
    docs: dict[str, list[list[str]]] = {f: [] for f in TECHNIQUE_FIELDS}
    ids = list(ids)
    subs: dict[str, list[str]] = {}
    for tid in ids:
        if "." in tid:
            subs.setdefault(tid.split(".", 1)[0], []).append(tid)
    for tid in ids:
        name = names.get(tid, "")
        if "." in tid:
            name = f"{names.get(tid.split('.', 1)[0], '')} {name}"
        desc, detection, procedures = text.get(tid, ("", "", []))
        fields = {"name": tokens(name), "description": tokens(desc),
                  "analytics": tokens(f"{analytics.get(tid, '')} {detection}"),
                  "procedures": tokens(" ".join(procedures))}
        fields["all"] = fields["name"] * 3 + fields["description"] + fields["analytics"] + fields["procedures"]
        # a parent read with its sub-techniques' names and descriptions: rules tag the parent far more often
        fields["family"] = fields["name"] + tokens(" ".join(f"{names.get(s, '')} {text.get(s, ('', '', []))[0]}"
                                                            for s in subs.get(tid, [])))
        for f in TECHNIQUE_FIELDS:
            docs[f].append(fields[f])
    return docs
