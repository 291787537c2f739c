"""The package's version, and version strings as comparable tuples (Falco engine versions, ATT&CK releases)."""

from __future__ import annotations

import re

#: this package's version (the package root re-exports it as ``falco_coverage.__version__``)
PACKAGE_VERSION = "0.1.0"

_NUMERIC = re.compile(r"\d{1,18}(?:\.\d{1,18})*")  # a part of 19 digits or more is no version


def version_key(version: str) -> tuple[int, ...]:
    """``"18.1"`` -> ``(18, 1)``; ``(-1,)`` for text that is not dot-separated numbers (sorts first)."""
    text = str(version).strip()
    return tuple(int(x) for x in text.split(".")) if _NUMERIC.fullmatch(text) else (-1,)
