"""The alert shapes other than a plain Falco alert: Elasticsearch and Loki documents, Falco's metrics
snapshots and Prometheus counters (see :mod:`falco_coverage.alerts.read`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .rows import COUNTER, ELASTIC, FALCO, LOKI, PROMETHEUS, SIDEKICK, Rows, tags_of

#: the metric whose samples count rule matches
RULES_METRIC = "falcosecurity_falco_rules_matches_total"
_METRIC_LINE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ts>-?\d+))?\s*$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_SNAPSHOT_RULE_PREFIX = "falco.rules."
#: Falco's numeric priorities (the Prometheus label), 0 first
_BY_NUMBER = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")


def record(doc: dict[str, Any], rows: Rows, file: str, line: int) -> bool:
    """Read one JSON document of a known shape into ``rows``; False when it is of none."""
    if "streams" in doc and isinstance(doc["streams"], list):
        return _loki(doc["streams"], rows, file, line)
    rule = doc.get("rule")
    if not isinstance(rule, str):
        return False
    time = doc.get("time") or doc.get("@timestamp")
    if doc.get("source") == "internal" or rule.startswith("Falco internal"):
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and _snapshot(fields, time, doc.get("hostname"), rows, file, line):
            return True
        rows.internal += 1
        return True
    tags = doc.get("tags")
    shape = SIDEKICK if "uuid" in doc else FALCO
    if "@timestamp" in doc or isinstance(tags, str):
        shape = ELASTIC
    else:  # falcosidekick's Elasticsearch output may flatten the dotted field names
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and fields and "." not in next(iter(fields)) and "_" in next(iter(fields)):
            shape = ELASTIC
    rows.add(time, rule, doc.get("priority"), doc.get("source"), doc.get("hostname"), tags, shape, line)
    return True


def _snapshot(fields: dict[str, Any], time: Any, hostname: Any, rows: Rows, file: str, line: int) -> bool:
    """The per-rule counters of a Falco metrics snapshot: ``falco.rules.<rule>`` = matches so far, where
    Falco writes the rule name with its blanks as ``_`` (the join to the rule set undoes that)."""
    found = False
    for key, value in fields.items():
        if key.startswith(_SNAPSHOT_RULE_PREFIX) and isinstance(value, (int, float)) and key != "falco.rules.matches_total":
            rows.add(time, key[len(_SNAPSHOT_RULE_PREFIX):], None, None, hostname or fields.get("falco.host_name"), [],
                     FALCO, line)
            rows.counted(int(value), COUNTER)
            found = True
    return found


def _loki(streams: list[Any], rows: Rows, file: str, line: int) -> bool:
    found = False
    for stream in streams:
        labels = stream.get("stream") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("rule"), str):
            continue
        for value in stream.get("values") or []:
            if isinstance(value, list) and value and isinstance(value[0], str) and value[0].isdigit():
                rows.add(pd.Timestamp(int(value[0]), unit="ns", tz="UTC").isoformat(), labels["rule"],
                         labels.get("priority"), labels.get("source"), labels.get("hostname"), labels.get("tags"),
                         LOKI, line)
                found = True
    return found


def prometheus(lines: Iterable[tuple[int, str]], rows: Rows, file: str) -> int:
    """Rule-match samples of Prometheus text; returns how many lines held one."""
    n = 0
    for number, text in lines:
        m = _METRIC_LINE.match(text)
        if not m or m.group("name") != RULES_METRIC:
            continue
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _LABEL.findall(m.group("labels") or "")}
        try:
            value = float(m.group("value"))
        except ValueError:
            rows.problems.append((file, number, f"{RULES_METRIC} sample with a value that is not a number"))
            continue
        if "rule_name" not in labels:
            rows.problems.append((file, number, f"{RULES_METRIC} sample without a rule_name label"))
            continue
        ts = m.group("ts")
        when = pd.Timestamp(int(ts), unit="ms", tz="UTC").isoformat() if ts else None
        # Falco gives each tag its own label (tag_<tag>="true"); a relabelled scrape may join them in ``tags``
        tags = [k[4:] for k in labels if k.startswith("tag_")] or tags_of(labels.get("tags"))
        prio = labels.get("priority")
        if prio is not None and prio.isdigit() and int(prio) < len(_BY_NUMBER):  # Falco's enum: 0 = Emergency
            prio = _BY_NUMBER[int(prio)]
        rows.add(when, labels["rule_name"], prio, labels.get("source"),
                 labels.get("hostname") or labels.get("host") or labels.get("instance"), tags, PROMETHEUS, number)
        rows.counted(int(value), COUNTER)
        n += 1
    return n


