"""The column store the alert readers append to, and how its columns are checked and normalised."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from ..columns import conform
from ..rules.decode import PRIORITIES, canonical_priority

SHAPES = ("falco", "sidekick", "elasticsearch", "loki", "prometheus", "parquet")
KINDS = ("alert", "counter")
FALCO, SIDEKICK, ELASTIC, LOKI, PROMETHEUS, PARQUET = range(len(SHAPES))
ALERT, COUNTER = range(len(KINDS))
#: problem lines listed per input file; the rest are counted (a file of junk must not fill memory)
MAX_LISTED_PROBLEMS = 1000


class Rows:
    """Column lists the readers append to; values are checked and normalised once per column, at the
    end (a frame is built once), so the per-line cost stays close to the JSON decoding itself."""

    def __init__(self) -> None:
        self.time: list[Any] = []
        self.rule: list[str] = []
        self.priority: list[Any] = []
        self.source: list[Any] = []
        self.hostname: list[Any] = []
        self.tags: list[Any] = []
        #: machine integers, not lists: a million rows convert to numpy without a copy per value
        self.shape = array("b")
        self.line = array("q")
        #: rows that are not a single alert: (row, count, kind); every other row is one alert
        self.special: list[tuple[int, int, int]] = []
        #: (file, index of its first row)
        self.files: list[tuple[str, int]] = []
        self.problems: list[tuple[str, int, str]] = []
        #: problem lines per file, listed or not (:meth:`problem`)
        self.n_problems: dict[str, int] = {}
        self.internal = 0
        #: one copy of each repeated value (text mostly; whatever hashable value a field holds) and tag set
        self.strings: dict[Any, Any] = {}
        self.tag_sets: dict[Any, Any] = {}
        #: whole frames read column by column (Parquet archives), added to the rows at the end
        self.archives: list[pd.DataFrame] = []

    def start(self, file: str) -> None:
        self.files.append((file, len(self.rule)))

    def problem(self, file: str, line: int, reason: str) -> None:
        """One line that could not be read: listed up to :data:`MAX_LISTED_PROBLEMS` per file, counted always."""
        n = self.n_problems.get(file, 0)
        self.n_problems[file] = n + 1
        if n < MAX_LISTED_PROBLEMS:
            self.problems.append((file, line, reason))

    def problem_rows(self) -> list[tuple[str, int, str]]:
        """The listed problems, and one line per file saying how many more were only counted."""
        out = sorted(self.problems, key=lambda p: (p[0], p[1]))
        for file, n in self.n_problems.items():
            if n > MAX_LISTED_PROBLEMS:
                last = max(line for f, line, _ in self.problems if f == file)
                out.append((file, last + 1, f"{n - MAX_LISTED_PROBLEMS:,} more line(s) from here on could not be "
                                            f"read (only the first {MAX_LISTED_PROBLEMS:,} are listed)"))
        return out

    def add(self, time: Any, rule: str, priority: Any, source: Any, hostname: Any, tags: Any, shape: int,
            line: int) -> None:
        """One alert (one fire); :meth:`counted` makes it a counter sample instead."""
        self.time.append(time)
        self.rule.append(rule)
        self.priority.append(priority)
        self.source.append(source)
        self.hostname.append(hostname)
        self.tags.append(tags)
        self.shape.append(shape)
        self.line.append(line)

    def counted(self, count: int, kind: int) -> None:
        """The row just added stands for ``count`` fires of ``kind`` (a counter sample), not one alert."""
        if count != 1 or kind != ALERT:
            self.special.append((len(self.line) - 1, count, kind))

    def frame(self) -> pd.DataFrame:
        """The rows as an ``alerts.alerts`` frame. Text columns keep Python strings whether or not pyarrow
        is installed (pandas would otherwise copy a million values into Arrow for no gain here)."""
        with pd.option_context("mode.string_storage", "python"):
            return self._frame()

    def _frame(self) -> pd.DataFrame:
        import numpy as np

        n = len(self.rule)
        files = np.empty(n, dtype=object)
        bounds = [start for _, start in self.files[1:]] + [n]
        for (name, start), stop in zip(self.files, bounds):
            files[start:stop] = name
        count = np.ones(n, dtype=np.int64)
        kind = np.full(n, ALERT, dtype=np.int8)
        for row, c, k in self.special:
            count[row], kind[row] = c, k
        clean = self.time if set(map(type, self.time)) <= {str} else [t if isinstance(t, str) else None
                                                                       for t in self.time]
        times = pd.Series(clean, dtype=object)
        when = pd.to_datetime(times, utc=True, errors="coerce", format="ISO8601")
        odd = when.isna() & times.notna()
        if odd.any():  # not ISO 8601 (a Loki or hand-written time): the slow, forgiving parser
            when[odd] = pd.to_datetime(times[odd], utc=True, errors="coerce", format="mixed")
        df = pd.DataFrame({
            "time": when, "rule": self.rule,
            "priority": priority_column(self.priority),
            "source": _each(self.source, lambda v: v), "hostname": _each(self.hostname, lambda v: v),
            "tags": _tag_lists(self.tags), "count": count,
            "kind": pd.Categorical.from_codes(kind, categories=list(KINDS)),
            "shape": pd.Categorical.from_codes(np.frombuffer(self.shape, dtype=np.int8), categories=list(SHAPES)),
            "file": files, "line": np.frombuffer(self.line, dtype=np.int64),
        })
        if self.archives:  # read column by column, already normalised
            df = pd.concat([df, *self.archives], ignore_index=True)
        return conform(df, "alerts.alerts")


def priority_column(values: list[Any]) -> pd.Categorical:
    """Priorities as Falco's canonical names, an ordered categorical (missing where not one)."""
    return pd.Categorical(_each(values, lambda p: canonical_priority(p) if p else None),
                          categories=list(PRIORITIES), ordered=True)


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
    """Each row's tags as a list, checked and built once per distinct tag set: alerts repeat a few
    hundred, and the reader already made equal sets one tuple, so identity finds them without hashing.
    Rows with the same tag set share one list (read-only, like every cell of the frame)."""
    by_id: dict[int, list[str]] = {}
    for v in values:
        if type(v) is tuple and id(v) not in by_id:  # kept alive by ``values``: its id stays its own
            by_id[id(v)] = tags_of(v)
    return [by_id[id(v)] if type(v) is tuple else tags_of(v) for v in values]


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


def tags_of(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [t for t in value if isinstance(t, str)]
    if isinstance(value, str) and value:
        return [t for t in (s.strip() for s in value.split(",")) if t]
    return []


