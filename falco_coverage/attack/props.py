"""Typed reads of STIX properties: a bundle is untrusted input, so every property is checked where read."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str | None:
    """A STIX property that should be text: the text, else None."""
    return value if isinstance(value, str) else None


def items(value: Any) -> list[Any]:
    """A STIX property that should be a list: the list, else empty."""
    return value if isinstance(value, list) else []


def active(obj: dict) -> bool:
    """Neither revoked nor deprecated."""
    return not obj.get("revoked") and not obj.get("x_mitre_deprecated")


def mitre_ref(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """The ATT&CK ID and URL of an object: its first ``mitre-*`` external reference with an ID."""
    for ref in items(obj.get("external_references")):
        if isinstance(ref, dict) and (text(ref.get("source_name")) or "").startswith("mitre-") \
                and isinstance(ref.get("external_id"), (str, int)) and ref.get("external_id") != "":
            return str(ref["external_id"]), text(ref.get("url"))
    return None, None
