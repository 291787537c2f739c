"""What every page writes around text it did not make: escaped text and link targets that cannot
become scripts, navigation to another scheme or markup (summaries, bundles and rule files are
input, and a page may be mailed to a manager)."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

#: the schemes a link on a page may have; anything else (``javascript:``, ``data:``) is not linked
SAFE_SCHEMES = ("http", "https")


def text(value: object) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe in an attribute)."""
    return html.escape(str(value), quote=True)


def href(url: str | None) -> str | None:
    """``url`` escaped for an ``href`` when it is web (http, https) or a relative path; None otherwise."""
    if not url:
        return None
    cleaned = "".join(ch for ch in url if ch >= " " and ch != "\x7f")  # browsers drop these before parsing
    parts = urlsplit(cleaned)
    if parts.scheme:
        return text(cleaned) if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else None
    if cleaned.startswith(("//", "\\")) or cleaned.lstrip().startswith(("/\\", "\\/")):
        return None  # a host without a scheme, or a path a browser reads as one
    return text(cleaned)


def link(url: str | None, label: str, *, new_tab: bool = False) -> str:
    """``<a>`` to ``url`` showing ``label`` (escaped); the bare label when the target is not safe."""
    target = href(url)
    if target is None:
        return text(label)
    extra = ' target="_blank" rel="noopener"' if new_tab else ""
    return f'<a href="{target}"{extra}>{text(label)}</a>'
