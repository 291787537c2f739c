"""What a coverage is computed over: validated scope values, and the ATT&CK platforms each source observes.

Every value a user types (platform, maturity, priority, source) is checked against what exists and
written canonically (``linux`` -> ``Linux``); a typo is an error naming the valid choices, never a
confident "0 of 0". Sources map to ATT&CK platforms through
:data:`falco_coverage.config.DEFAULT_SOURCE_PLATFORMS` and the configuration's ``source_platforms``;
a source that maps to nothing is named in a note, with the configuration key that maps it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ...attack import AttackData, active_mask
from ...config import DEFAULT_SOURCE_PLATFORMS
from ...errors import FalcoCoverageError
from ...rules.decode import PRIORITIES, canonical_priority

#: maturity levels falcosecurity/rules uses (``none``: a rule without a maturity_* tag)
MATURITIES = ("stable", "incubating", "sandbox", "deprecated", "none")


def _choose(kind: str, given: Iterable[str], choices: Iterable[str]) -> tuple[str, ...]:
    by_fold = {c.casefold(): c for c in choices}
    out = []
    for value in given:
        hit = by_fold.get(str(value).strip().casefold())
        if hit is None:
            raise FalcoCoverageError(f"unknown {kind} '{value}'; choose from {', '.join(sorted(by_fold.values()))}")
        out.append(hit)
    return tuple(dict.fromkeys(out))


def attack_platforms(attack: AttackData) -> list[str]:
    """Every platform named by an active technique of the release."""
    t = attack.techniques
    return sorted({p for ps in t.loc[active_mask(t), "platforms"] for p in ps})


def check_platforms(platforms: Iterable[str], attack: AttackData) -> tuple[str, ...]:
    return _choose("ATT&CK platform", platforms, attack_platforms(attack))


def check_maturities(maturities: Iterable[str], rules: pd.DataFrame) -> tuple[str, ...]:
    present = {m for m in rules["maturity"].dropna()}
    return _choose("maturity", (str(m).removeprefix("maturity_") for m in maturities), {*MATURITIES, *present})


def check_priority(priority: str) -> str:
    p = canonical_priority(priority)
    if p is None:
        raise FalcoCoverageError(f"unknown priority '{priority}'; choose from {', '.join(PRIORITIES)}")
    return p


def check_sources(sources: Iterable[str], rules: pd.DataFrame, source_platforms: dict[str, list[str]]) -> tuple[str, ...]:
    return _choose("source", sources, {*rules["source"].unique(), *DEFAULT_SOURCE_PLATFORMS, *source_platforms})


def source_platforms_of(sources: Iterable[str], source_platforms: dict[str, list[str]] | None = None
                        ) -> tuple[list[str], list[str]]:
    """The ATT&CK platforms ``sources`` observe, and a note for each source that maps to none."""
    mapping = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
    platforms: set[str] = set()
    notes = []
    for source in sorted(set(sources)):
        if source not in mapping:
            notes.append(f"source '{source}' is not one falco-coverage knows: its rules count toward no ATT&CK "
                         f"platform; map it in the configuration, e.g. source_platforms = {{ {source} = [\"SaaS\"] }}")
        elif not mapping[source]:
            notes.append(f"source '{source}' observes no ATT&CK platform (as mapped); change source_platforms in "
                         "the configuration if it should")
        platforms.update(mapping.get(source, []))
    return sorted(platforms), notes
