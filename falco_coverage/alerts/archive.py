"""Alert archives in Parquet (a data lake's table of Falco alerts), read column by column.

A file whose name ends in ``.parquet`` is read with pyarrow (the ``archives`` extra): the columns
``time`` (a timestamp, or ISO 8601 text), ``rule``, ``priority``, ``source``, ``hostname`` and ``tags``
(a list, or one comma-joined string) become alert rows; ``rule`` is required, the others may be
missing. Each row is one alert (a ``count`` column, when there is one, says how many).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AlertsError
from ..rules.decode import PRIORITIES, canonical_priority
from .rows import ALERT, KINDS, PARQUET, SHAPES, tags_of

#: the columns read; every other column of the archive is left on disk
COLUMNS = ("time", "rule", "priority", "source", "hostname", "tags", "count")


def read_parquet(path: Path, name: str) -> pd.DataFrame:
    """The alerts of one Parquet archive in the columns of ``alerts.alerts`` (values normalised; the
    frame is conformed with the other inputs' rows)."""
    from ..extras import require

    require("archives", "reading Parquet alert archives")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        wanted = [c for c in COLUMNS if c in schema.names]
        if "rule" not in wanted:
            raise AlertsError("a Parquet archive of alerts needs a 'rule' column", file=path)
        table = pq.read_table(path, columns=wanted)
        with pd.option_context("mode.string_storage", "python"):  # as the other inputs' rows (see Rows.frame)
            return _frame(table, name)
    except (pa.ArrowException, OSError) as exc:
        raise AlertsError(f"not a readable Parquet file ({exc})", file=path) from None


def _decoded(column: Any, fn: Callable[[Any], Any]) -> np.ndarray:
    """``fn`` of each value of an Arrow column, computed once per distinct value (alerts repeat a few
    hundred rules, hosts and tag sets: a million rows cost a dictionary encoding, not a Python loop)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column).combine_chunks()
    values = np.empty(len(encoded.dictionary) + 1, dtype=object)
    values[:-1] = [fn(v) for v in encoded.dictionary.to_pylist()]
    values[-1] = fn(None)
    codes = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return values[codes]


def _frame(table: Any, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows

    def text(column: str) -> np.ndarray:
        if column not in table.column_names:
            return np.full(n, None, dtype=object)
        return _decoded(table.column(column).cast(pa.string()), lambda v: v)

    if "tags" in table.column_names and pa.types.is_list(table.column("tags").type):
        joined = pc.binary_join(table.column("tags").cast(pa.list_(pa.string())), _SEP)
        tags = _decoded(joined, lambda v: tags_of(v.split(_SEP)) if v else [])
    else:
        tags = _decoded(table.column("tags").cast(pa.string()), tags_of) if "tags" in table.column_names \
            else np.array([[] for _ in range(n)] + [None], dtype=object)[:n]
    time = table.column("time").to_pandas() if "time" in table.column_names else pd.Series([None] * n, dtype=object)
    when = pd.to_datetime(time.astype(object) if pa.types.is_string(table.column("time").type) else time,
                          utc=True, errors="coerce", format="ISO8601") if "time" in table.column_names \
        else pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    count = table.column("count").to_pandas().fillna(1).astype("int64") if "count" in table.column_names else 1
    return pd.DataFrame({
        "time": when, "rule": text("rule"),
        "priority": pd.Categorical(_decoded(table.column("priority").cast(pa.string()), _canonical)
                                   if "priority" in table.column_names else np.full(n, None, dtype=object),
                                   categories=list(PRIORITIES), ordered=True),
        "source": text("source"), "hostname": text("hostname"), "tags": tags, "count": count,
        "kind": pd.Categorical.from_codes(np.full(n, ALERT, dtype=np.int8), categories=list(KINDS)),
        "shape": pd.Categorical.from_codes(np.full(n, PARQUET, dtype=np.int8), categories=list(SHAPES)),
        "file": name, "line": np.arange(1, n + 1, dtype=np.int64),
    })


_SEP = "\x1f"


def _canonical(value: Any) -> str | None:
    return canonical_priority(value) if value else None
