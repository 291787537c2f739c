"""Reading what users hand in under budgets: regular files only, a byte budget, a nesting budget.

Every reader of a user's file (rules, ATT&CK bundles, configurations, run summaries, alerts) goes
through here or states its own budget, so a device, a pipe, a huge file or a nesting bomb ends in one
clear error naming the file (and line) instead of a hang, a MemoryError or a RecursionError.
"""

from __future__ import annotations

import itertools
import re
import stat
from pathlib import Path

from .errors import FalcoCoverageError

#: nesting the pre-scan refuses before a parser sees it (the C YAML parser recurses per level)
MAX_SCAN_DEPTH = 512
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEEP_BLOCK = re.compile(rb"(?m)^[ \t-]{%d,}\S" % (2 * MAX_SCAN_DEPTH))


def file_problem(path: Path, max_bytes: int) -> str | None:
    """Why ``path`` is not read (a directory, not a regular file, over ``max_bytes``), else None."""
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a device, pipe or socket); not read"
    if st.st_size > max_bytes:
        return f"file is {st.st_size / 2**20:.0f} MiB; files over {max_bytes / 2**20:.0f} MiB are refused here"
    return None


def read_regular(path: Path, max_bytes: int, error: type[FalcoCoverageError]) -> bytes:
    """The bytes of the regular file ``path``, read under ``max_bytes`` (a file that grows past the
    budget while read is refused too); otherwise ``error`` naming the file."""
    try:
        problem = file_problem(path, max_bytes)
        if problem is not None:
            raise error(problem, file=path)
        with path.open("rb") as fh:  # a byte budget, not stat(): /proc-like files say 0 and keep going
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", file=path) from None
    if len(raw) > max_bytes:
        raise error(f"file grows past {max_bytes / 2**20:.0f} MiB while read; refused", file=path)
    return raw


def too_deep(raw: bytes) -> int | None:
    """The line where flow brackets or block indentation nest past :data:`MAX_SCAN_DEPTH`, else None."""
    if raw.count(b"[") + raw.count(b"{") > MAX_SCAN_DEPTH:
        depth = 0
        for n, ch in enumerate(raw.translate(None, _NOT_BRACKETS)):  # the brackets alone, in order
            depth = depth + 1 if ch in (0x5B, 0x7B) else max(0, depth - 1)
            if depth > MAX_SCAN_DEPTH:  # the line of the n-th bracket
                nth = next(itertools.islice(re.finditer(rb"[\[\]{}]", raw), n, None))
                return line_of_offset(raw, nth.start())
    block = _DEEP_BLOCK.search(raw)
    return line_of_offset(raw, block.start()) if block else None


def line_of_offset(text: str | bytes, offset: int) -> int:
    """The 1-based line of ``offset`` in ``text``."""
    nl = b"\n" if isinstance(text, bytes) else "\n"
    return text.count(nl, 0, max(0, offset)) + 1  # type: ignore[arg-type]
