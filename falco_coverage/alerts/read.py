"""Falco's alerts as a tidy DataFrame: every shape Falco and falcosidekick write, told apart by content.

Shapes (one per input line, except Prometheus text, which is read whole):

- ``falco``: Falco's own JSON output (``json_output: true``): ``time``, ``rule``, ``priority``,
  ``source``, ``hostname``, ``output``, ``tags``, ``output_fields``. Falco's internal alerts
  (``source: internal``) are skipped, except the metrics snapshots, whose per-rule counters are read.
- ``sidekick``: falcosidekick's webhook body: the same plus ``uuid`` (and custom fields).
- ``elasticsearch``: a document as falcosidekick's Elasticsearch output stores it (dotted
  ``output_fields`` keys may be flattened with ``_``; ``tags`` a list or one comma-joined string).
- ``loki``: a Loki push body: ``streams`` of labels (``rule``, ``priority``, ``source``, ``hostname``,
  ``tags`` joined with commas) and ``values`` of ``[nanoseconds, line]``; one row per value.
- ``prometheus``: Falco's ``falcosecurity_falco_rules_matches_total{rule_name=...}`` counters, one
  row per sample (``count`` is the counter's value, ``kind`` is ``counter``).

Bad input never aborts a run and never loses the good lines: a line that is not JSON, a JSON value
of no known shape and a truncated gzip stream are counted and listed (file, line, reason) in
``AlertSet.problems``; only a file of another kind entirely (no line of any known shape) is an
:class:`AlertsError`. Columns: :mod:`falco_coverage.columns` (``alerts.alerts``).
"""

from __future__ import annotations

import gzip
import io
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..columns import columns, conform
from ..errors import FalcoCoverageError
from ..rules.decode import PRIORITIES, canonical_priority

SHAPES = ("falco", "sidekick", "elasticsearch", "loki", "prometheus")
KINDS = ("alert", "counter")
#: the metric whose samples count rule matches
RULES_METRIC = "falcosecurity_falco_rules_matches_total"
_METRIC_LINE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ts>-?\d+))?\s*$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_SNAPSHOT_RULE_PREFIX = "falco.rules."
#: Falco's numeric priorities (the Prometheus label), 0 first
_BY_NUMBER = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")


class AlertsError(FalcoCoverageError):
    """An input holds no Falco alerts or metrics at all (another kind of file), or cannot be read."""


@dataclass
class AlertSet:
    """Alerts and counter samples read from some inputs, and what could not be read."""

    alerts: pd.DataFrame
    #: one row per line that could not be read: file, line, reason
    problems: pd.DataFrame
    #: lines read per input file
    files: dict[str, int] = field(default_factory=dict)
    #: Falco internal alerts skipped (metrics snapshots are read, not skipped)
    n_internal: int = 0

    def summary(self) -> str:
        """``1,000 alerts, 3 counter samples from 2 files; 2 lines could not be read``."""
        kinds = self.alerts["kind"].astype(str).value_counts()
        text = (f"{kinds.get('alert', 0):,} alerts, {kinds.get('counter', 0):,} counter samples from "
                f"{len(self.files)} file(s)")
        if len(self.problems):
            text += f"; {len(self.problems):,} line(s) could not be read"
        return text


class _Rows:
    """Column lists the readers append to (a frame is built once, at the end)."""

    def __init__(self) -> None:
        self.time: list[Any] = []
        self.rule: list[str] = []
        self.priority: list[str | None] = []
        self.source: list[str | None] = []
        self.hostname: list[str | None] = []
        self.tags: list[list[str]] = []
        self.count: list[int] = []
        self.kind: list[str] = []
        self.shape: list[str] = []
        self.file: list[str] = []
        self.line: list[int] = []
        self.problems: list[tuple[str, int, str]] = []
        self.internal = 0

    def add(self, time: Any, rule: str, priority: Any, source: Any, hostname: Any, tags: Any, count: int,
            kind: str, shape: str, file: str, line: int) -> None:
        self.time.append(time)
        self.rule.append(rule)
        self.priority.append(priority if isinstance(priority, str) else None)
        self.source.append(source if isinstance(source, str) else None)
        self.hostname.append(hostname if isinstance(hostname, str) else None)
        self.tags.append(_tags(tags))
        self.count.append(count)
        self.kind.append(kind)
        self.shape.append(shape)
        self.file.append(file)
        self.line.append(line)

    def frame(self) -> pd.DataFrame:
        prio = [canonical_priority(p) if p else None for p in self.priority]
        df = pd.DataFrame({
            "time": pd.to_datetime(pd.Series(self.time, dtype=object), utc=True, errors="coerce", format="mixed"),
            "rule": self.rule, "priority": pd.Categorical(prio, categories=list(PRIORITIES), ordered=True),
            "source": self.source, "hostname": self.hostname, "tags": self.tags, "count": self.count,
            "kind": pd.Categorical(self.kind, categories=list(KINDS)),
            "shape": pd.Categorical(self.shape, categories=list(SHAPES)), "file": self.file, "line": self.line,
        })
        return conform(df, "alerts.alerts")


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    if isinstance(value, str) and value:
        return [t for t in (s.strip() for s in value.split(",")) if t]
    return []


def _record(doc: dict[str, Any], rows: _Rows, file: str, line: int) -> bool:
    """Read one JSON document of a known shape into ``rows``; False when it is of none."""
    if "streams" in doc and isinstance(doc["streams"], list):
        return _loki(doc["streams"], rows, file, line)
    rule = doc.get("rule")
    if not isinstance(rule, str):
        return False
    time = doc.get("time", doc.get("@timestamp"))
    if doc.get("source") == "internal" or rule.startswith("Falco internal"):
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and _snapshot(fields, time, doc.get("hostname"), rows, file, line):
            return True
        rows.internal += 1
        return True
    fields = doc.get("output_fields")
    shape = "sidekick" if "uuid" in doc else "falco"
    flattened = isinstance(fields, dict) and fields and not any("." in k for k in fields)
    if "@timestamp" in doc or isinstance(doc.get("tags"), str) or flattened:
        shape = "elasticsearch"
    rows.add(time, rule, doc.get("priority"), doc.get("source"), doc.get("hostname"), doc.get("tags"), 1, "alert",
             shape, file, line)
    return True


def _snapshot(fields: dict[str, Any], time: Any, hostname: Any, rows: _Rows, file: str, line: int) -> bool:
    """The per-rule counters of a Falco metrics snapshot: ``falco.rules.<rule>`` = matches so far, where
    Falco writes the rule name with its blanks as ``_`` (the join to the rule set undoes that)."""
    found = False
    for key, value in fields.items():
        if key.startswith(_SNAPSHOT_RULE_PREFIX) and isinstance(value, (int, float)) and key != "falco.rules.matches_total":
            rows.add(time, key[len(_SNAPSHOT_RULE_PREFIX):], None, None, hostname or fields.get("falco.host_name"), [],
                     int(value), "counter", "falco", file, line)
            found = True
    return found


def _loki(streams: list[Any], rows: _Rows, file: str, line: int) -> bool:
    found = False
    for stream in streams:
        labels = stream.get("stream") if isinstance(stream, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("rule"), str):
            continue
        for value in stream.get("values") or []:
            if isinstance(value, list) and value and isinstance(value[0], str) and value[0].isdigit():
                rows.add(pd.Timestamp(int(value[0]), unit="ns", tz="UTC"), labels["rule"], labels.get("priority"),
                         labels.get("source"), labels.get("hostname"), labels.get("tags"), 1, "alert", "loki",
                         file, line)
                found = True
    return found


def _prometheus(lines: Iterable[tuple[int, str]], rows: _Rows, file: str) -> int:
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
        when = pd.Timestamp(int(ts), unit="ms", tz="UTC") if ts else None
        # Falco gives each tag its own label (tag_<tag>="true"); a relabelled scrape may join them in ``tags``
        tags = [k[4:] for k in labels if k.startswith("tag_")] or _tags(labels.get("tags"))
        prio = labels.get("priority")
        if prio is not None and prio.isdigit() and int(prio) < len(_BY_NUMBER):  # Falco's enum: 0 = Emergency
            prio = _BY_NUMBER[int(prio)]
        rows.add(when, labels["rule_name"], prio, labels.get("source"),
                 labels.get("hostname") or labels.get("host") or labels.get("instance"), tags, int(value), "counter",
                 "prometheus", file, number)
        n += 1
    return n


def _lines(stream: IO[bytes], file: str, rows: _Rows) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of a stream; a truncated or corrupt gzip stream ends them with a problem noted."""
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            yield number, raw
    except (EOFError, OSError, zlib.error) as exc:
        rows.problems.append((file, number + 1, f"the compressed stream ends early or is corrupt ({exc}); the lines "
                                                "before it were read"))


def _open(path: Path) -> IO[bytes]:
    stream: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def _read_stream(stream: IO[bytes], file: str, rows: _Rows) -> int:
    """Read one input; returns how many lines held alerts or samples."""
    import orjson

    good = 0
    bad_start = len(rows.problems)
    text_lines: list[tuple[int, str]] = []
    prometheus = False
    for number, raw in _lines(stream, file, rows):
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped[:1] == b"{":
            try:
                doc = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                rows.problems.append((file, number, f"not valid JSON ({exc.args[0] if exc.args else exc})"))
                continue
            if isinstance(doc, dict) and _record(doc, rows, file, number):
                good += 1
            else:
                rows.problems.append((file, number, "JSON of no known alert shape (no 'rule', no Loki 'streams')"))
        elif stripped[:1] == b"#" or stripped.startswith(RULES_METRIC.encode()) or prometheus:
            prometheus = True
            text_lines.append((number, stripped.decode("utf-8", "replace")))
        else:
            text_lines.append((number, stripped.decode("utf-8", "replace")))
    if text_lines:
        found = _prometheus(text_lines, rows, file) if prometheus or good == 0 else 0
        good += found
        if not prometheus:
            rows.problems.extend((file, n, "neither JSON nor a Prometheus sample") for n, _ in text_lines)
    if good == 0 and len(rows.problems) - bad_start == 0 and not text_lines:
        return 0
    return good


def _inputs(paths: Iterable[str | Path]) -> Iterator[tuple[str, Path | None]]:
    for given in paths:
        if str(given) == "-":
            yield "-", None
            continue
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file())
            if not found:
                raise AlertsError("no files in this directory", file=path)
            yield from ((str(p), p) for p in found)
        elif not path.exists():
            raise AlertsError("no such file or directory", file=path)
        else:
            yield str(path), path


def load_alerts(*paths: str | Path, since: Any = None, until: Any = None,
                stdin: IO[bytes] | None = None) -> AlertSet:
    """Falco alerts and rule-match counters from files, directories (every file under them), ``.gz``
    files and ``-`` (standard input), whatever their shape. ``since``/``until`` (anything
    ``pandas.Timestamp`` reads; naive means UTC) keep the rows of that window (rows with no time are kept)."""
    rows = _Rows()
    files: dict[str, int] = {}
    for name, path in _inputs(paths):
        before = len(rows.problems)
        if path is None:
            good = _read_stream(stdin or sys.stdin.buffer, name, rows)
        else:
            try:
                with _open(path) as stream:
                    good = _read_stream(stream, name, rows)
            except OSError as exc:
                raise AlertsError(f"cannot read: {exc.strerror or exc}", file=path) from None
        files[name] = good
        if good == 0 and len(rows.problems) > before:
            file, line, _ = rows.problems[before]
            raise AlertsError("holds no Falco alert or metric (not Falco JSON output, falcosidekick, Loki or "
                              "Prometheus text)", file=file, line=line)
    alerts = rows.frame()
    alerts = _window(alerts, since, until)
    problems = pd.DataFrame(sorted(rows.problems, key=lambda p: (p[0], p[1])), columns=columns("alerts.problems"))
    return AlertSet(alerts, conform(problems, "alerts.problems"), files, rows.internal)


def _utc(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise FalcoCoverageError(f"'{value}' is not a time (use e.g. 2026-11-01 or 2026-11-01T12:00:00Z)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _window(alerts: pd.DataFrame, since: Any, until: Any) -> pd.DataFrame:
    if since is None and until is None:
        return alerts
    keep = pd.Series(True, index=alerts.index)
    t = alerts["time"]
    if since is not None:
        keep &= t.isna() | (t >= _utc(since))
    if until is not None:
        keep &= t.isna() | (t <= _utc(until))
    return alerts[keep].reset_index(drop=True)


def read_bytes(data: bytes) -> AlertSet:
    """:func:`load_alerts` over bytes in memory (for tests and notebooks); the input is named ``-``."""
    return load_alerts("-", stdin=io.BytesIO(data))
