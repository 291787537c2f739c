"""How the package's objects show themselves in a console and in a notebook: a short summary, never a
frame dump. Each object names its facts (label, value); this module turns them into one line of text
and a small HTML table (escaped), so every object reads the same."""

from __future__ import annotations

import html
from collections.abc import Iterable


def facts_text(kind: str, facts: Iterable[tuple[str, str]]) -> str:
    """``Kind(label: value; ...)``."""
    return f"{kind}(" + "; ".join(f"{k}: {v}" for k, v in facts) + ")"


def facts_html(title: str, facts: Iterable[tuple[str, str]]) -> str:
    """A titled two-column table, left-aligned, every value escaped."""
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in facts)
    return f"<div><b>{html.escape(title)}</b><table>{rows}</table></div>"
