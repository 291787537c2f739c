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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..columns import columns, conform
from ..errors import FalcoCoverageError
from ..rules.decode import PRIORITIES, canonical_priority

SHAPES = ("falco", "sidekick", "elasticsearch", "loki", "prometheus")
KINDS = ("alert", "counter")
_FALCO, _SIDEKICK, _ELASTIC, _LOKI, _PROMETHEUS = range(len(SHAPES))
_ALERT, _COUNTER = range(len(KINDS))
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
    """Column lists the readers append to; values are checked and normalised once per column, at the
    end (a frame is built once), so the per-line cost stays close to the JSON decoding itself."""

    def __init__(self) -> None:
        self.time: list[Any] = []
        self.rule: list[str] = []
        self.priority: list[Any] = []
        self.source: list[Any] = []
        self.hostname: list[Any] = []
        self.tags: list[Any] = []
        self.count: list[int] = []
        self.kind: list[int] = []
        self.shape: list[int] = []
        self.line: list[int] = []
        #: (file, index of its first row)
        self.files: list[tuple[str, int]] = []
        self.problems: list[tuple[str, int, str]] = []
        self.internal = 0
        #: one copy of each repeated text value and tag set
        self.strings: dict[str, str] = {}
        self.tag_sets: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def start(self, file: str) -> None:
        self.files.append((file, len(self.rule)))

    def add(self, time: Any, rule: str, priority: Any, source: Any, hostname: Any, tags: Any, count: int,
            kind: int, shape: int, line: int) -> None:
        self.time.append(time)
        self.rule.append(rule)
        self.priority.append(priority)
        self.source.append(source)
        self.hostname.append(hostname)
        self.tags.append(tags)
        self.count.append(count)
        self.kind.append(kind)
        self.shape.append(shape)
        self.line.append(line)

    def frame(self) -> pd.DataFrame:
        import numpy as np

        n = len(self.rule)
        files = np.empty(n, dtype=object)
        bounds = [start for _, start in self.files[1:]] + [n]
        for (name, start), stop in zip(self.files, bounds):
            files[start:stop] = name
        times = pd.Series([t if isinstance(t, str) else None for t in self.time], dtype=object)
        when = pd.to_datetime(times, utc=True, errors="coerce", format="ISO8601")
        odd = when.isna() & times.notna()
        if odd.any():  # not ISO 8601 (a Loki or hand-written time): the slow, forgiving parser
            when[odd] = pd.to_datetime(times[odd], utc=True, errors="coerce", format="mixed")
        df = pd.DataFrame({
            "time": when, "rule": self.rule,
            "priority": pd.Categorical(_each(self.priority, lambda p: canonical_priority(p) if p else None),
                                       categories=list(PRIORITIES), ordered=True),
            "source": _each(self.source, lambda v: v), "hostname": _each(self.hostname, lambda v: v),
            "tags": _tag_lists(self.tags), "count": self.count,
            "kind": pd.Categorical.from_codes(self.kind, categories=list(KINDS)),
            "shape": pd.Categorical.from_codes(self.shape, categories=list(SHAPES)), "file": files,
            "line": self.line,
        })
        return conform(df, "alerts.alerts")


def _each(values: list[Any], fn: Any) -> list[Any]:
    """``fn`` of each text value (None for anything else), computed once per distinct value."""
    try:
        mapped = {v: (fn(v) if isinstance(v, str) else None) for v in dict.fromkeys(values)}
    except TypeError:  # an unhashable value (a list where text belongs): value by value below
        mapped = None
    if mapped is not None:
        if all(k is m for k, m in mapped.items()):
            return values
        return [mapped[v] for v in values]
    memo: dict[str, Any] = {}
    out: list[Any] = []
    for v in values:
        if not isinstance(v, str):
            out.append(None)
            continue
        if v not in memo:
            memo[v] = fn(v)
        out.append(memo[v])
    return out


def _tag_lists(values: list[Any]) -> list[list[str]]:
    """Each row's tags as its own list, checked once per distinct tag set (alerts repeat a few hundred;
    the reader already made equal sets one tuple, so identity finds them without hashing)."""
    by_id: dict[int, tuple[str, ...]] = {}
    out: list[list[str]] = []
    for v in values:
        clean = by_id.get(id(v))
        if clean is None:
            clean = tuple(_tags(v))
            if type(v) is tuple:  # kept alive by ``values``, so its id stays its own
                by_id[id(v)] = clean
        out.append(list(clean))
    return out


@contextmanager
def resting_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk load: alerts keep millions of small lists and dicts,
    none in a cycle, which the collector would otherwise walk again and again."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _tags(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
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
    time = doc.get("time") or doc.get("@timestamp")
    if doc.get("source") == "internal" or rule.startswith("Falco internal"):
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and _snapshot(fields, time, doc.get("hostname"), rows, file, line):
            return True
        rows.internal += 1
        return True
    tags = doc.get("tags")
    shape = _SIDEKICK if "uuid" in doc else _FALCO
    if "@timestamp" in doc or isinstance(tags, str):
        shape = _ELASTIC
    else:  # falcosidekick's Elasticsearch output may flatten the dotted field names
        fields = doc.get("output_fields")
        if isinstance(fields, dict) and fields and "." not in next(iter(fields)) and "_" in next(iter(fields)):
            shape = _ELASTIC
    rows.add(time, rule, doc.get("priority"), doc.get("source"), doc.get("hostname"), tags, 1, _ALERT, shape, line)
    return True


def _snapshot(fields: dict[str, Any], time: Any, hostname: Any, rows: _Rows, file: str, line: int) -> bool:
    """The per-rule counters of a Falco metrics snapshot: ``falco.rules.<rule>`` = matches so far, where
    Falco writes the rule name with its blanks as ``_`` (the join to the rule set undoes that)."""
    found = False
    for key, value in fields.items():
        if key.startswith(_SNAPSHOT_RULE_PREFIX) and isinstance(value, (int, float)) and key != "falco.rules.matches_total":
            rows.add(time, key[len(_SNAPSHOT_RULE_PREFIX):], None, None, hostname or fields.get("falco.host_name"), [],
                     int(value), _COUNTER, _FALCO, line)
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
                rows.add(pd.Timestamp(int(value[0]), unit="ns", tz="UTC").isoformat(), labels["rule"],
                         labels.get("priority"), labels.get("source"), labels.get("hostname"), labels.get("tags"), 1,
                         _ALERT, _LOKI, line)
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
        when = pd.Timestamp(int(ts), unit="ms", tz="UTC").isoformat() if ts else None
        # Falco gives each tag its own label (tag_<tag>="true"); a relabelled scrape may join them in ``tags``
        tags = [k[4:] for k in labels if k.startswith("tag_")] or _tags(labels.get("tags"))
        prio = labels.get("priority")
        if prio is not None and prio.isdigit() and int(prio) < len(_BY_NUMBER):  # Falco's enum: 0 = Emergency
            prio = _BY_NUMBER[int(prio)]
        rows.add(when, labels["rule_name"], prio, labels.get("source"),
                 labels.get("hostname") or labels.get("host") or labels.get("instance"), tags, int(value), _COUNTER,
                 _PROMETHEUS, number)
        n += 1
    return n


def _open(path: Path) -> IO[bytes]:
    stream: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def _read_stream(stream: IO[bytes], file: str, rows: _Rows) -> int:
    """Read one input; returns how many lines held alerts or samples.

    The loop is written for speed: the common line (one Falco or falcosidekick alert) is appended
    inline; every other shape goes through :func:`_record`."""
    import orjson

    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    a_time, a_rule, a_prio, a_src = rows.time.append, rows.rule.append, rows.priority.append, rows.source.append
    a_host, a_tags, a_count, a_kind = rows.hostname.append, rows.tags.append, rows.count.append, rows.kind.append
    a_shape, a_line = rows.shape.append, rows.line.append
    intern, tag_sets = rows.strings.setdefault, rows.tag_sets
    good = 0
    text_lines: list[tuple[int, str]] = []
    prometheus = False
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            if raw[:1] != b"{":
                stripped = raw.strip()
                if not stripped:
                    continue
                if stripped[:1] != b"{":
                    if stripped[:1] == b"#" or stripped.startswith(RULES_METRIC.encode()):
                        prometheus = True
                    text_lines.append((number, stripped.decode("utf-8", "replace")))
                    continue
                raw = stripped
            try:
                doc = loads(raw)
            except decode_error as exc:
                rows.problems.append((file, number, f"not valid JSON ({exc.args[0] if exc.args else exc})"))
                continue
            if type(doc) is not dict:
                rows.problems.append((file, number, "JSON of no known alert shape (not an object)"))
                continue
            rule = doc.get("rule")
            tags = doc.get("tags")
            if (type(rule) is str and type(tags) is not str and "@timestamp" not in doc and "streams" not in doc
                    and doc.get("source") != "internal" and not rule.startswith("Falco internal")):
                fields = doc.get("output_fields")
                if type(fields) is dict and fields:
                    first = next(iter(fields))
                    if "." not in first and "_" in first:  # flattened field names: the Elasticsearch shape
                        _record(doc, rows, file, number)
                        good += 1
                        continue
                # repeated values are kept once: the copies orjson made are freed at once
                a_time(doc.get("time"))
                a_rule(intern(rule, rule))
                v = doc.get("priority")
                a_prio(intern(v, v) if type(v) is str else v)
                v = doc.get("source")
                a_src(intern(v, v) if type(v) is str else v)
                v = doc.get("hostname")
                a_host(intern(v, v) if type(v) is str else v)
                if type(tags) is list:
                    try:
                        key = tuple(tags)
                        tags = tag_sets.setdefault(key, key)
                    except TypeError:
                        pass
                a_tags(tags)
                a_count(1)
                a_kind(_ALERT)
                a_shape(_SIDEKICK if "uuid" in doc else _FALCO)
                a_line(number)
                good += 1
            elif _record(doc, rows, file, number):
                good += 1
            else:
                rows.problems.append((file, number, "JSON of no known alert shape (no 'rule', no Loki 'streams')"))
    except (EOFError, OSError, zlib.error) as exc:
        rows.problems.append((file, number + 1, f"the compressed stream ends early or is corrupt ({exc}); the lines "
                                                "before it were read"))
    if text_lines:
        good += _prometheus(text_lines, rows, file) if prometheus or good == 0 else 0
        if not prometheus:
            rows.problems.extend((file, n, "neither JSON nor a Prometheus sample") for n, _ in text_lines)
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
    with resting_gc():
        alerts = _read_all(paths, rows, files, stdin)
    alerts = _window(alerts, since, until)
    problems = pd.DataFrame(sorted(rows.problems, key=lambda p: (p[0], p[1])), columns=columns("alerts.problems"))
    return AlertSet(alerts, conform(problems, "alerts.problems"), files, rows.internal)


def _read_all(paths: Iterable[str | Path], rows: _Rows, files: dict[str, int], stdin: IO[bytes] | None) -> pd.DataFrame:
    for name, path in _inputs(paths):
        before = len(rows.problems)
        rows.start(name)
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
    return rows.frame()


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
