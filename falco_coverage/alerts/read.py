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
import stat
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from functools import partial
from typing import IO, Any

import pandas as pd

from ..columns import columns, conform
from ..errors import AlertsError, FalcoCoverageError
from .rows import FALCO, MAX_LISTED_PROBLEMS, SIDEKICK, Rows, resting_gc
from .shapes import RULE_METRICS, flattened, prometheus, record



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
    #: lines that could not be read, listed in ``problems`` or not (each file lists its first 1,000)
    n_problems: int = 0

    def summary(self) -> str:
        """``1,000 alerts, 3 counter samples from 2 files; 2 lines could not be read``."""
        kinds = self.alerts["kind"].astype(str).value_counts()
        text = (f"{kinds.get('alert', 0):,} alerts, {kinds.get('counter', 0):,} counter samples from "
                f"{len(self.files)} file(s)")
        if self.n_problems:
            text += f"; {self.n_problems:,} line(s) could not be read"
        return text


#: one line (one alert, or one Loki push body) may not be longer than this; longer lines are skipped
MAX_LINE_BYTES = 16 << 20
#: a line this long is not skipped to its end: reading the input stops (``/dev/zero`` on standard input)
MAX_SKIP_BYTES = 4 * MAX_LINE_BYTES
#: lines of no alert shape (blank, junk) one input may hold before reading it stops (a flood of newlines)
MAX_EMPTY_LINES = 10_000_000
#: alerts and samples held at once; more is an error that says how to narrow (``FALCO_COVERAGE_MAX_ALERTS``)
MAX_ALERT_ROWS = 2_500_000
#: a compressed input may not inflate more than this many times once past :data:`_INFLATE_FLOOR`
MAX_INFLATION = 200
_INFLATE_FLOOR = 16 << 20
_BOM = b"\xef\xbb\xbf"


def _open(path: Path) -> tuple[IO[bytes], IO[bytes] | None]:
    """The input's byte stream (inflated when gzip) and, for gzip, the compressed file under it."""
    raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == b"\x1f\x8b":
        return io.BufferedReader(gzip.GzipFile(fileobj=raw), 1 << 16), raw
    return raw, None


class _Guard:
    """Budgets of one input, checked off the hot path: a line over :data:`MAX_LINE_BYTES` is skipped
    (read in pieces, never held whole), and a compressed input that inflates past :data:`MAX_INFLATION`
    times its size is a compression bomb: reading stops there, keeping the lines before."""

    def __init__(self, stream: IO[bytes], compressed: IO[bytes] | None, file: str, rows: Rows) -> None:
        self.stream, self.compressed, self.file, self.rows = stream, compressed, file, rows
        self.max_rows = _max_rows()

    def bomb(self) -> bool:
        if self.compressed is None:
            return False
        out = self.stream.tell()
        return out > _INFLATE_FLOOR and out > MAX_INFLATION * max(self.compressed.tell(), 1)

    def check(self, raw: bytes, number: int) -> bool:
        """False when ``raw`` (line ``number``) is to be skipped; raises :class:`_Stop` to end the input."""
        if self.bomb():
            raise _Stop(number, _BOMB)
        if len(self.rows.rule) > self.max_rows:
            raise AlertsError(f"holds more than {self.max_rows:,} alerts and samples, more than are held in memory: "
                              "narrow the input, count them with --prometheus, or raise FALCO_COVERAGE_MAX_ALERTS",
                              file=self.file, line=number)
        if len(raw) < MAX_LINE_BYTES or raw[-1:] == b"\n":
            return True
        skipped = len(raw)
        while raw and raw[-1:] != b"\n":  # the rest of the overlong line, piece by piece
            raw = self.stream.readline(MAX_LINE_BYTES)
            skipped += len(raw)
            if self.bomb():
                raise _Stop(number, _BOMB)
            if skipped > MAX_SKIP_BYTES:
                raise _Stop(number, f"a line longer than {MAX_SKIP_BYTES >> 20} MiB (no newline); reading stopped "
                                    "here, the lines before were read")
        self.rows.problem(self.file, number, f"line longer than {MAX_LINE_BYTES >> 20} MiB; skipped")
        return False


_BOMB = (f"inflates more than {MAX_INFLATION} times its compressed size (a compression bomb?); reading stopped "
         "here, the lines before were read (if the file is genuine, gunzip it and pass the plain file)")


class _Stop(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _read_stream(stream: IO[bytes], file: str, rows: Rows, compressed: IO[bytes] | None = None) -> int:
    """Read one input; returns how many lines held alerts or samples.

    The loop is written for speed: the common line (one Falco or falcosidekick alert) is appended
    inline; every other shape goes through :func:`_record`, and the budgets of :class:`_Guard` are
    checked only for lines at the length limit and every 65,536th line."""
    import orjson

    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    a_time, a_rule, a_prio, a_src = rows.time.append, rows.rule.append, rows.priority.append, rows.source.append
    a_host, a_tags = rows.hostname.append, rows.tags.append
    a_shape, a_line = rows.shape.append, rows.line.append
    intern, tag_sets, problem = rows.strings.setdefault, rows.tag_sets, rows.problem
    guard = _Guard(stream, compressed, file, rows)
    good = 0
    text = _TextLines(file, rows)
    number = 0
    try:
        for number, raw in enumerate(iter(partial(stream.readline, MAX_LINE_BYTES), b""), 1):
            if raw[:1] != b"{" or len(raw) >= MAX_LINE_BYTES or not number & 0xFFFF:
                kept = _screen(raw, number, guard, text)  # not the common line, or a budget to check
                if kept is None:
                    continue
                raw = kept
            try:
                doc = loads(raw)
            except decode_error as exc:
                problem(file, number, f"not valid JSON ({exc.args[0] if exc.args else exc})")
                continue
            if type(doc) is not dict:
                problem(file, number, "JSON of no known alert shape (not an object)")
                continue
            rule = doc.get("rule")
            tags = doc.get("tags")
            if (type(rule) is str and type(tags) is not str and "@timestamp" not in doc and "streams" not in doc
                    and doc.get("source") != "internal" and not rule.startswith("Falco internal")):
                fields = doc.get("output_fields")
                if type(fields) is dict and fields:
                    first = next(iter(fields))
                    if "." not in first and flattened(fields):  # flattened field names: the Elasticsearch shape
                        record(doc, rows, file, number)
                        good += 1
                        continue
                # repeated values are kept once: the copies orjson made are freed at once
                try:  # every value first, so a failure appends nothing
                    prio, src, host = doc.get("priority"), doc.get("source"), doc.get("hostname")
                    prio, src, host = intern(prio, prio), intern(src, src), intern(host, host)
                    key = tuple(tags) if type(tags) is list else tags
                    tags = tag_sets.setdefault(key, key)
                except TypeError:  # a list or an object where text belongs: the careful path
                    record(doc, rows, file, number)
                    good += 1
                    continue
                a_time(doc.get("time"))
                a_rule(intern(rule, rule))
                a_prio(prio)
                a_src(src)
                a_host(host)
                a_tags(tags)
                a_shape(SIDEKICK if "uuid" in doc else FALCO)
                a_line(number)
                good += 1
            elif record(doc, rows, file, number):
                good += 1
            else:
                problem(file, number, "JSON of no known alert shape (no 'rule', no Loki 'streams')")
    except _Stop as stop:
        problem(file, stop.line, stop.reason)
    except (EOFError, OSError, zlib.error) as exc:
        problem(file, number + 1, f"the compressed stream ends early or is corrupt ({exc}); the lines before it "
                                  "were read")
    return good + text.finish(good)


def _max_rows() -> int:
    import os

    given = os.environ.get("FALCO_COVERAGE_MAX_ALERTS", "")
    return int(given) if given.isdigit() else MAX_ALERT_ROWS


def _screen(raw: bytes, number: int, guard: _Guard, text: _TextLines) -> bytes | None:
    """A line off the hot path: the budgets checked, then anything not starting with ``{`` (blank,
    indented JSON, a BOM, Prometheus text) read aside. The JSON to decode, or None to go on."""
    if not guard.check(raw, number):
        return None
    return raw if raw[:1] == b"{" else text.take(raw, number)


class _TextLines:
    """The lines of an input that are not JSON objects: Prometheus samples are read as they come;
    other lines are problems unless the input turns out to be Prometheus text (which holds other
    metrics and comments too). Pending problems are kept within the per-file listing budget."""

    #: Prometheus text is told by its own marks, not by any '#' (a rules file's comments are not)
    SAMPLE = tuple(name.encode() for name in RULE_METRICS)
    MARKS = (b"# HELP ", b"# TYPE ", *SAMPLE)

    def __init__(self, file: str, rows: Rows) -> None:
        self.file, self.rows = file, rows
        self.pending: list[int] = []
        self.n_pending = 0
        self.metrics = False
        self.samples = 0
        self.empty = 0

    def take(self, raw: bytes, number: int) -> bytes | None:
        """``raw`` stripped when it is a JSON object after all; else read or kept here (or skipped if blank)."""
        stripped = raw.strip()
        if number == 1 and stripped.startswith(_BOM):
            stripped = stripped[len(_BOM):].lstrip()
        if not stripped:
            self.empty += 1
            if self.empty > MAX_EMPTY_LINES:
                raise _Stop(number, f"more than {MAX_EMPTY_LINES:,} blank lines (a flood?); reading stopped here, "
                                    "the lines before were read")
            return None
        if stripped[:1] == b"{":
            return stripped
        if stripped.startswith(self.MARKS):
            self.metrics = True
            if stripped.startswith(self.SAMPLE):
                self.samples += prometheus(number, stripped.decode("utf-8", "replace"), self.rows, self.file)
            return None
        self.n_pending += 1
        if self.n_pending > MAX_EMPTY_LINES:
            raise _Stop(number, f"more than {MAX_EMPTY_LINES:,} lines of no alert shape; reading stopped here, the "
                                "lines before were read")
        if len(self.pending) < MAX_LISTED_PROBLEMS:
            self.pending.append(number)
        return None

    def finish(self, good: int) -> int:
        """The samples read; lines of no shape become problems unless the input is Prometheus text."""
        if self.metrics and not self.samples and not self.rows.n_problems.get(self.file):
            self.rows.problem(self.file, 1, "Prometheus text without a Falco rule-match counter (" +
                              ", ".join(RULE_METRICS) + "); nothing to count")
        if not self.metrics:
            for number in self.pending:
                self.rows.problem(self.file, number, "neither JSON nor a Prometheus sample")
            if self.n_pending > len(self.pending):
                self.rows.n_problems[self.file] = (self.rows.n_problems.get(self.file, 0)
                                                   + self.n_pending - len(self.pending))
        return self.samples


def _inputs(paths: Iterable[str | Path]) -> Iterator[tuple[str, Path | None, bool]]:
    """(name, path or None for standard input, whether the user named it rather than its directory)."""
    for given in paths:
        if str(given) == "-":
            yield "-", None, True
            continue
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if not p.is_dir())
            if not found:
                raise AlertsError("no files in this directory", file=path)
            yield from ((str(p), p, False) for p in found)
        elif not path.exists():
            raise AlertsError("no such file or directory", file=path)
        else:
            yield str(path), path, True


def load_alerts(*paths: str | Path, since: Any = None, until: Any = None, stdin: IO[bytes] | None = None,
                prometheus: str | None = None, window: str | None = None) -> AlertSet:
    """Falco alerts and rule-match counters from files, directories (every file under them), ``.gz``
    files and ``-`` (standard input), whatever their shape, and from a Prometheus server's HTTP API
    (``prometheus``: its base URL; the fires per rule and instance over ``window``, a Prometheus
    duration, default: from ``since`` to ``until``, else 30d). ``since``/``until`` (anything
    ``pandas.Timestamp`` reads; naive means UTC) keep the rows of that window (rows with no time are kept).

    Only regular files are read (a device, pipe or socket named or found in a directory is an
    :class:`AlertsError`); lines over :data:`MAX_LINE_BYTES` and compression bombs are problems."""
    rows = Rows()
    files: dict[str, int] = {}
    try:
        with resting_gc():
            _read_all(paths, rows, files, stdin)
            if prometheus is not None:
                from .prometheus_api import pull

                files[prometheus.rstrip("/")] = pull(prometheus, rows, window=window or _span(since, until),
                                                     until=until)
            alerts = rows.frame()
    except MemoryError:
        where = rows.files[-1][0] if rows.files else None
        raise AlertsError(f"not enough memory for these alerts ({len(rows.rule):,} read): narrow the input, count "
                          "them with --prometheus, or lower FALCO_COVERAGE_MAX_ALERTS", file=where) from None
    alerts = _window(alerts, since, until)
    problems = pd.DataFrame(rows.problem_rows(), columns=columns("alerts.problems"))
    return AlertSet(alerts, conform(problems, "alerts.problems"), files, rows.internal,
                    sum(rows.n_problems.values()))


def _span(since: Any, until: Any) -> str:
    """The window from ``since`` to ``until`` (now) as a Prometheus duration; 30d without ``since``."""
    if since is None:
        return "30d"
    end = _utc(until) if until is not None else pd.Timestamp.now(tz="UTC")
    return f"{max(1, int((end - _utc(since)).total_seconds()))}s"


def _read_all(paths: Iterable[str | Path], rows: Rows, files: dict[str, int], stdin: IO[bytes] | None) -> None:
    for name, path, named in _inputs(paths):
        rows.start(name)
        if path is None:
            good = _read_stream(stdin or sys.stdin.buffer, name, rows)
        elif not named and not _regular(path):  # a pipe or device met in a directory: skipped, said
            rows.problem(name, 1, "not a regular file (a device, pipe or socket); skipped")
            continue
        elif path.suffix.lower() == ".parquet":
            from .archive import read_parquet

            rows.archives.append(read_parquet(path, name))
            good = len(rows.archives[-1])
        else:
            good = _read_file(path, name, rows)
        files[name] = good
        if good == 0 and rows.n_problems.get(name):
            line, reason = min((n, r) for f, n, r in rows.problems if f == name)
            raise AlertsError(f"holds no Falco alert or metric (not Falco JSON output, falcosidekick, Loki or "
                              f"Prometheus text): {reason}", file=name, line=line)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # the error is reported when it is read


def _read_file(path: Path, name: str, rows: Rows) -> int:
    try:
        if not _regular(path):
            raise AlertsError("not a regular file (a device, pipe or socket); not read", file=path)
        stream, compressed = _open(path)
        try:
            good = _read_stream(stream, name, rows, compressed)
        finally:
            stream.close()
            if compressed is not None:
                compressed.close()
        if good == 0 and rows.n_problems.get(name):  # perhaps one JSON document over many lines
            return _as_document(path, name, rows) or 0
        return good
    except OSError as exc:
        raise AlertsError(f"cannot read: {exc.strerror or exc}", file=path) from None


#: a file read as one JSON document (a pretty-printed response) may not be larger than this
MAX_DOCUMENT_BYTES = 256 << 20


def _as_document(path: Path, name: str, rows: Rows) -> int | None:
    """``path`` read whole as one JSON document: an Elasticsearch ``_search`` or Loki ``query_range``
    response written over many lines, or a JSON array of alerts. The documents it held (its line
    problems are dropped), or None when it is not one (they stay)."""
    import orjson

    stream, compressed = _open(path)
    try:
        raw = stream.read(MAX_DOCUMENT_BYTES + 1)
    except (EOFError, OSError, zlib.error):
        return None
    finally:
        stream.close()
        if compressed is not None:
            compressed.close()
    if len(raw) > MAX_DOCUMENT_BYTES or raw.lstrip(_BOM + b" \t\r\n")[:1] not in (b"{", b"["):
        return None
    try:
        doc = orjson.loads(raw.removeprefix(_BOM))
    except orjson.JSONDecodeError:
        return None
    docs = doc if isinstance(doc, list) else [doc]
    kept, count = rows.problems, rows.n_problems.pop(name)
    rows.problems = [p for p in kept if p[0] != name]
    found = sum(1 for d in docs if isinstance(d, dict) and record(d, rows, name, 1))
    if not found:
        rows.problems, rows.n_problems[name] = kept, count
    return found or None


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
