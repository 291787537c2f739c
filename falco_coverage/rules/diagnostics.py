"""What Falco would say while loading: diagnostics with Falco's codes and messages, at file:line.

Severities come from the finding-code catalogue (:mod:`falco_coverage.codes`), so a load
diagnostic and a tag finding speak the same language. A diagnostic carries Falco's code (``code``)
and the finer reason (``sub_code``: e.g. ``ERROR_UNDEFINED_MACRO`` under ``LOAD_ERR_VALIDATE``; the
code itself when there is no finer one). In strict mode the first error raises.
"""

from __future__ import annotations

import pandas as pd

from ..codes import REGISTRY
from ..columns import conform
from ..errors import RulesError
from ..findings import SEVERITIES, Location

#: Falco's own wording for the collector's errors and warnings
MESSAGES = {
    "ERROR_NO_PREVIOUS_MACRO": "Macro has 'append' key or an append override but no previous macro with the same name",
    "ERROR_NO_PREVIOUS_LIST": "List has 'append' key or an append override but no previous list with the same name",
    "ERROR_NO_PREVIOUS_RULE_APPEND": "Rule has 'append' key or an append override but no previous rule with the same name",
    "ERROR_NO_PREVIOUS_RULE_REPLACE": "Rule has a replace override but no previous rule with the same name",
    "ERROR_NO_PREVIOUS_RULE_ENABLE": "Rule has 'enabled' key but no previous rule with the same name",
    "ERROR_OVERRIDE_APPEND": "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry "
                             "(e.g. 'condition: append') under 'override' instead.",
    "WARNING_APPEND": "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under "
                      "'override' instead.",
    "WARNING_ENABLED": "The standalone 'enabled' key usage is deprecated. The correct approach requires also a "
                       "'replace' entry under the 'override' key (i.e. 'enabled: replace').",
}
ITEM_KINDS = ("rule", "macro", "list")
#: the code of "an append or override names nothing earlier", per kind of item
NO_PREVIOUS = {"list": "ERROR_NO_PREVIOUS_LIST", "macro": "ERROR_NO_PREVIOUS_MACRO",
               "rule": "ERROR_NO_PREVIOUS_RULE_APPEND"}


class Diagnostics:
    """The diagnostics of one load, in the order found, each reported once."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.rows: list[tuple[str, str, str, str, str | None, str | None, str, int]] = []
        self._seen: set[tuple[str, str, str | None, str, int]] = set()

    def add(self, code: str, message: str, item: str | None, where: Location, kind: str | None = None) -> None:
        """Record one diagnostic (once); ``code`` is Falco's or a sub-code of one; ``kind`` is ``rule``,
        ``macro`` or ``list`` when ``item`` names one."""
        key = (code, message, item, where.file, where.line)
        if key in self._seen:
            return
        self._seen.add(key)
        spec = REGISTRY[code]
        severity = spec.severity.value
        self.rows.append((severity, spec.parent or code, code, message, item, kind if item else None, where.file,
                          where.line))
        if self.strict and severity == "error":
            label = f"{spec.parent} ({code})" if spec.parent else code
            raise RulesError(f"{label}: {message}" + (f" ({item})" if item else ""), file=where.file,
                             line=where.line or None)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["severity", "code", "sub_code", "message", "item", "kind", "file", "line"])
        df["severity"] = pd.Categorical(df["severity"], categories=list(SEVERITIES))
        df["kind"] = pd.Categorical(df["kind"], categories=list(ITEM_KINDS))
        return conform(df, "rules.diagnostics")
