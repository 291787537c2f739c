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


#: counters of rule matches, by who writes them, and the label that names the rule
RULE_METRICS = {RULES_METRIC: "rule_name", "falco_events": "rule",  # Falco's own; falco-exporter's
                "falcosecurity_falcosidekick_falco_events_total": "rule"}  # falcosidekick's
#: an Elasticsearch ``_bulk`` body's action lines (the document follows on the next line)
_BULK_ACTIONS = frozenset({"index", "create", "update", "delete"})
#: Falco's field classes, as falcosidekick's Elasticsearch output writes them when it flattens the dots
_FLAT_FIELD = re.compile(r"^(?:proc|fd|evt|container|k8s|k8smeta|user|group|thread|fs|ka|ct|gcp|okta|github|"
                         r"jevt|span|syscall|falco|docker|aws|cloudtrail)_[a-z]")


def metric_name(rule: str) -> str:
    """``rule`` as Falco writes it in metric names and snapshot keys: every character outside
    ``[A-Za-z0-9_:]`` becomes ``_``, runs of ``_`` become one, a trailing ``_`` goes."""
    return _RUNS.sub("_", _NOT_METRIC.sub("_", rule)).rstrip("_")


_NOT_METRIC = re.compile(r"[^A-Za-z0-9_:]")
_RUNS = re.compile(r"_{2,}")


def flattened(fields: dict[str, Any]) -> bool:
    """Whether ``output_fields`` are written the way falcosidekick's Elasticsearch output flattens them
    (``proc_name`` for ``proc.name``), not a webhook's custom fields beside dotted ones."""
    return not any("." in k for k in fields) and any(_FLAT_FIELD.match(k) for k in fields)


def record(doc: dict[str, Any], rows: Rows, file: str, line: int) -> bool:
    """Read one JSON document of a known shape into ``rows``; False when it is of none."""
    if "streams" in doc and isinstance(doc["streams"], list):
        return _loki(doc["streams"], rows, file, line)
    data, hits = doc.get("data"), doc.get("hits")
    if isinstance(data, dict) and data.get("resultType") == "streams" and isinstance(data.get("result"), list):
        return _loki(data["result"], rows, file, line)  # a Loki query_range response
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):  # an Elasticsearch _search response
        return any([_alert(h["_source"], rows, file, line) for h in hits["hits"]
                    if isinstance(h, dict) and isinstance(h.get("_source"), dict)]) or not hits["hits"]
    if isinstance(doc.get("_source"), dict):  # one hit per line (an export of a _search)
        return _alert(doc["_source"], rows, file, line)
    if len(doc) == 1 and next(iter(doc)) in _BULK_ACTIONS and isinstance(next(iter(doc.values())), dict):
        return True  # a _bulk action line: what it indexes is the next line
    fields = doc.get("output_fields")
    if "sample" in doc and "rule" not in doc and isinstance(fields, dict):  # Falco's metrics.output_file
        when = fields.get("evt.time")
        time = pd.Timestamp(when, unit="ns", tz="UTC").isoformat() if type(when) is int and 0 <= when <= _MAX_NS \
            else None
        return _snapshot(fields, time, fields.get("evt.hostname"), rows, file, line) or _internal(rows)
    return _alert(doc, rows, file, line)


def _internal(rows: Rows) -> bool:
    rows.internal += 1
    return True


def _alert(doc: dict[str, Any], rows: Rows, file: str, line: int) -> bool:
    """One alert (Falco, falcosidekick or an Elasticsearch document), or a Falco internal event."""
    rule = doc.get("rule")
    if not isinstance(rule, str):
        return False
    time = doc.get("time") or doc.get("@timestamp")
    if doc.get("source") == "internal" or rule.startswith("Falco internal"):
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and _snapshot(fields, time, doc.get("hostname"), rows, file, line):
            return True
        return _internal(rows)
    tags = doc.get("tags")
    shape = SIDEKICK if "uuid" in doc else FALCO
    fields = doc.get("output_fields")
    if "@timestamp" in doc or isinstance(tags, str) or (isinstance(fields, dict) and flattened(fields)):
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
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 19 \
            or int(value) > _MAX_NS:
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
    if "_" in text:  # Python reads 1_000; Prometheus's text format has no such digits
        return "a value that is not a number"
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
    if len(text) > 17:  # past year 2262 (and past what int() converts without a limit)
        return False
    ms = int(text)
    if ms < 0 or ms > _MAX_MS:
        return False
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


def prometheus(number: int, text: str, rows: Rows, file: str) -> int:
    """Read one line of Prometheus text; 1 when it held a rule-match sample, else 0 (a sample that
    cannot count fires is a problem, never a subtraction)."""
    m = _METRIC_LINE.match(text)
    rule_label = RULE_METRICS.get(m.group("name")) if m else None
    if m is None or rule_label is None:
        return 0
    labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group("labels") or "")}
    name = m.group("name")
    value = _counter_value(m.group("value"))
    if isinstance(value, str):
        rows.problem(file, number, f"{name} sample with {value}; not counted")
        return 0
    if rule_label not in labels:
        rows.problem(file, number, f"{name} sample without a {rule_label} label")
        return 0
    when = _sample_time(m.group("ts"))
    if when is False:
        rows.problem(file, number, f"{name} sample with a timestamp outside 1970-2262; not counted")
        return 0
    # Falco gives each tag its own label (tag_<tag>="true"); a relabelled scrape may join them in ``tags``
    tags = [k[4:] for k in labels if k.startswith("tag_")] or tags_of(labels.get("tags"))
    prio = labels.get("priority")
    if prio is not None and prio.isascii() and prio.isdigit() and int(prio) < len(_BY_NUMBER):  # 0 = Emergency
        prio = _BY_NUMBER[int(prio)]
    rows.add(when, labels[rule_label], prio, labels.get("source"),
             labels.get("hostname") or labels.get("host") or labels.get("instance"), tags, PROMETHEUS, number)
    rows.counted(value, COUNTER)
    return 1
