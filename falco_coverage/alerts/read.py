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
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..columns import columns, conform
from ..errors import AlertsError, FalcoCoverageError
from .rows import FALCO, SIDEKICK, Rows, resting_gc
from .shapes import RULES_METRIC, prometheus, record



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


def _open(path: Path) -> IO[bytes]:
    stream: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def _read_stream(stream: IO[bytes], file: str, rows: Rows) -> int:
    """Read one input; returns how many lines held alerts or samples.

    The loop is written for speed: the common line (one Falco or falcosidekick alert) is appended
    inline; every other shape goes through :func:`_record`."""
    import orjson

    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    a_time, a_rule, a_prio, a_src = rows.time.append, rows.rule.append, rows.priority.append, rows.source.append
    a_host, a_tags = rows.hostname.append, rows.tags.append
    a_shape, a_line = rows.shape.append, rows.line.append
    intern, tag_sets = rows.strings.setdefault, rows.tag_sets
    good = 0
    text = _TextLines()
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            if raw[:1] != b"{":  # not the common line: blank, indented JSON, or Prometheus text
                kept = text.take(raw, number)
                if kept is None:
                    continue
                raw = kept
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
                        record(doc, rows, file, number)
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
                a_shape(SIDEKICK if "uuid" in doc else FALCO)
                a_line(number)
                good += 1
            elif record(doc, rows, file, number):
                good += 1
            else:
                rows.problems.append((file, number, "JSON of no known alert shape (no 'rule', no Loki 'streams')"))
    except (EOFError, OSError, zlib.error) as exc:
        rows.problems.append((file, number + 1, f"the compressed stream ends early or is corrupt ({exc}); the lines "
                                                "before it were read"))
    return good + text.finish(rows, file, good)


class _TextLines:
    """The lines of an input that are not JSON objects: Prometheus text, or lines no shape knows."""

    #: Prometheus text is told by its own marks, not by any '#' (a rules file's comments are not)
    MARKS = (b"# HELP ", b"# TYPE ", RULES_METRIC.encode())

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.metrics = False

    def take(self, raw: bytes, number: int) -> bytes | None:
        """``raw`` stripped when it is a JSON object after all; else kept here (or skipped if blank)."""
        stripped = raw.strip()
        if not stripped:
            return None
        if stripped[:1] == b"{":
            return stripped
        if stripped.startswith(self.MARKS):
            self.metrics = True
        self.lines.append((number, stripped.decode("utf-8", "replace")))
        return None

    def finish(self, rows: Rows, file: str, good: int) -> int:
        """Read the kept lines as Prometheus text (when they are, or when nothing else was); the
        samples read. Lines of no shape are problems."""
        if not self.lines:
            return 0
        n = prometheus(self.lines, rows, file) if self.metrics or good == 0 else 0
        if not self.metrics:
            rows.problems.extend((file, k, "neither JSON nor a Prometheus sample") for k, _ in self.lines)
        return n


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
    rows = Rows()
    files: dict[str, int] = {}
    with resting_gc():
        alerts = _read_all(paths, rows, files, stdin)
    alerts = _window(alerts, since, until)
    problems = pd.DataFrame(sorted(rows.problems, key=lambda p: (p[0], p[1])), columns=columns("alerts.problems"))
    return AlertSet(alerts, conform(problems, "alerts.problems"), files, rows.internal)


def _read_all(paths: Iterable[str | Path], rows: Rows, files: dict[str, int], stdin: IO[bytes] | None) -> pd.DataFrame:
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
