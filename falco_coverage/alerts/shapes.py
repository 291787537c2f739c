"""The alert shapes other than a plain Falco alert: Elasticsearch and Loki documents, Falco's metrics
snapshots and Prometheus counters (see :mod:`falco_coverage.alerts.read`)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from .rows import COUNTER, ELASTIC, FALCO, LOKI, PROMETHEUS, SIDEKICK, Rows, tags_of

#: the metric whose samples count rule matches
RULES_METRIC = "falcosecurity_falco_rules_matches_total"
_METRIC_LINE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)"
                          r"(?:\s+(?P<ts>-?[0-9]+))?\s*$")
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
            count = count_of(value, str(value))
            if isinstance(count, str):
                rows.problem(file, line, f"metrics snapshot counter {key} with {count}; not counted")
                continue
            rows.add(time, key[len(_SNAPSHOT_RULE_PREFIX):], None, None, hostname or fields.get("falco.host_name"), [],
                     FALCO, line)
            rows.counted(count, COUNTER)
            found = True
    return found


def _loki(streams: list[Any], rows: Rows, file: str, line: int) -> bool:
    found = False
    for stream in streams:
        labels = stream.get("stream") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("rule"), str):
            continue
        values = stream.get("values")
        found = True  # a Loki body: what is wrong in it is said below, not as a line of no shape
        if not isinstance(values, list):
            rows.problem(file, line, "Loki stream whose 'values' is not a list; skipped")
            continue
        for value in values:
            when = _loki_time(value[0] if isinstance(value, list) and value else None)
            if when is None:
                rows.problem(file, line, "Loki value without a time in nanoseconds since 1970; skipped")
                continue
            rows.add(when, labels["rule"], labels.get("priority"), labels.get("source"), labels.get("hostname"),
                     labels.get("tags"), LOKI, line)
    return found


#: the last nanosecond, millisecond a frame's time column can hold (pandas' datetime64[ns])
_MAX_NS = 2**63 - 1
_MAX_MS = _MAX_NS // 10**6


def _loki_time(value: Any) -> str | None:
    """ISO time of Loki's nanoseconds (ASCII digits, within range); None when it is not one."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or int(value) > _MAX_NS:
        return None
    return pd.Timestamp(int(value), unit="ns", tz="UTC").isoformat()


def _unescape(value: str) -> str:
    r"""A Prometheus label value: ``\\``, ``\"`` and ``\n`` are its only escapes; any other backslash stays."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


_ESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _counter_value(text: str) -> int | str:
    """A counter sample's value as an int, or why it is outside a counter's domain."""
    try:
        return count_of(float(text), text)
    except ValueError:
        return "a value that is not a number"


def count_of(value: float, text: str) -> int | str:
    """``value`` as a count of fires, or why it cannot be one (NaN, infinite, negative, fractional, huge)."""
    if value != value or value in (float("inf"), float("-inf")):
        return f"the value {text}, which no counter holds"
    if value < 0 or value != int(value) or value > 2**53:
        return f"the value {text}: a counter is a whole number from 0 to 2^53"
    return int(value)


def _sample_time(text: str | None) -> str | None | bool:
    """ISO time of a sample's millisecond timestamp; None without one; False when out of range."""
    if text is None:
        return None
    ms = int(text)
    if ms < 0 or ms > _MAX_MS:
        return False
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


def prometheus(number: int, text: str, rows: Rows, file: str) -> int:
    """Read one line of Prometheus text; 1 when it held a rule-match sample, else 0 (a sample that
    cannot count fires is a problem, never a subtraction)."""
    m = _METRIC_LINE.match(text)
    if not m or m.group("name") != RULES_METRIC:
        return 0
    labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group("labels") or "")}
    value = _counter_value(m.group("value"))
    if isinstance(value, str):
        rows.problem(file, number, f"{RULES_METRIC} sample with {value}; not counted")
        return 0
    if "rule_name" not in labels:
        rows.problem(file, number, f"{RULES_METRIC} sample without a rule_name label")
        return 0
    when = _sample_time(m.group("ts"))
    if when is False:
        rows.problem(file, number, f"{RULES_METRIC} sample with a timestamp outside 1970-2262; not counted")
        return 0
    # Falco gives each tag its own label (tag_<tag>="true"); a relabelled scrape may join them in ``tags``
    tags = [k[4:] for k in labels if k.startswith("tag_")] or tags_of(labels.get("tags"))
    prio = labels.get("priority")
    if prio is not None and prio.isascii() and prio.isdigit() and int(prio) < len(_BY_NUMBER):  # 0 = Emergency
        prio = _BY_NUMBER[int(prio)]
    rows.add(when, labels["rule_name"], prio, labels.get("source"),
             labels.get("hostname") or labels.get("host") or labels.get("instance"), tags, PROMETHEUS, number)
    rows.counted(value, COUNTER)
    return 1
