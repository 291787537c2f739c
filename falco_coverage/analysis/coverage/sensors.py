"""The sensor profile: which ATT&CK log sources and data components each Falco event source observes.

The profile ships as ``builtin/sensors.yaml`` (every entry says why it is there) and the configuration's
``sensors`` key replaces or adds sources (:class:`falco_coverage.config.Sensor`, parsed with the rest of
the configuration so a mistake is reported with the file it is in). Which ATT&CK platforms a source observes is
``source_platforms`` (:data:`falco_coverage.config.DEFAULT_SOURCE_PLATFORMS`); the profile says what
on those platforms it records. :mod:`.observability` reads both.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ...config import Sensor, parse_profile

PROFILE_FILE = Path(__file__).resolve().parents[1] / "builtin" / "sensors.yaml"


@lru_cache(maxsize=1)
def builtin_profile() -> dict[str, Sensor]:
    """The profile shipped in the package."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a tenth of the time, on every check
    return parse_profile(yaml.load(PROFILE_FILE.read_text(), Loader=loader), str(PROFILE_FILE))


def sensor_profile(overrides: Mapping[str, Any] | None = None) -> dict[str, Sensor]:
    """The built-in profile with ``overrides`` replacing or adding sources: the configuration's parsed
    ``sensors`` (:class:`Sensor` values), or a mapping in the profile's own shape."""
    if not overrides:
        return builtin_profile()
    parsed = {k: v for k, v in overrides.items() if isinstance(v, Sensor)}
    parsed.update(parse_profile({k: v for k, v in overrides.items() if not isinstance(v, Sensor)}, "sensor_profile"))
    return {**builtin_profile(), **parsed}


def profile_frame(profile: Mapping[str, Sensor] | None = None,
                  source_platforms: Mapping[str, list[str]] | None = None) -> pd.DataFrame:
    """The profile as a table: one row per (source, log source or data component), with why."""
    from ...columns import columns, conform
    from ...config import DEFAULT_SOURCE_PLATFORMS

    plats = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
    rows = []
    for s in (profile or builtin_profile()).values():
        for kind, names in (("log source", s.log_sources), ("data component", s.data_components)):
            for name, why in names.items():
                rows.append((s.source, list(plats.get(s.source, [])), kind, name, why,
                             list(s.evt_types.get(name, ()))))
    df = pd.DataFrame(rows, columns=columns("sensors.profile"))
    df["kind"] = pd.Categorical(df["kind"], categories=["log source", "data component"])
    return conform(df, "sensors.profile")
