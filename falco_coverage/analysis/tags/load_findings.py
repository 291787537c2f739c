"""Rule-loading diagnostics as findings: the same table, codes and configuration as tag checks and lints.

Each diagnostic of :class:`~falco_coverage.rules.RuleSet` becomes a finding at its file and line with
its finest code: the sub-code when there is one (``ERROR_UNDEFINED_MACRO``), else Falco's code
(``LOAD_UNUSED_MACRO``). So a configuration can switch off one reason without silencing every
``LOAD_ERR_VALIDATE``, change its severity, or exclude rules, as for any code.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...codes import REGISTRY
from ...config import CheckConfig, load_config
from ...findings import Finding, Location, findings_frame
from ...rules import RuleSet


def load_findings(ruleset: RuleSet, *, config: CheckConfig | str | Path | None = None) -> pd.DataFrame:
    """One finding per load diagnostic that ``config`` keeps (findings columns); only those in the
    user's own files when some files were loaded as the base."""
    cfg = config if isinstance(config, CheckConfig) else load_config(config)
    found = [Finding(str(d.sub_code), d.item if isinstance(d.item, str) else "", str(d.message),
                     Location(str(d.file), int(d.line)))
             for d in ruleset.diagnostics.itertuples(index=False)]
    return own_findings(findings_frame(REGISTRY.keep(found, cfg), REGISTRY.codes("load") + REGISTRY.codes("tag")),
                        ruleset)


def own_findings(findings: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """The findings written in the user's own files (all of them when nothing was loaded as the base)."""
    if not ruleset.base_files:
        return findings
    return findings[~findings["file"].isin(ruleset.base_files)].reset_index(drop=True)
