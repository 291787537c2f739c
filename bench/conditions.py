"""Condition parsing and expansion speed, side by side in one run.

    python bench/conditions.py [--runs N]

On the three upstream files (conditions taken from an already loaded RuleSet): parse every macro
and rule condition from scratch (no memo), then expand every rule's macros and compute its event
types and fields. Target (issue 7): parse + expand < 0.5 s. Beside it: the whole ``lint()``.
"""

from __future__ import annotations



from _bench import UPSTREAM, median_time, runs_arg

from falco_coverage import load_rules
from falco_coverage.rules import condition as cond
from falco_coverage.rules import nodes
from falco_coverage.config import CheckConfig
from falco_coverage.analysis.tags.lint import lint


def main() -> None:
    args = runs_arg(__doc__)
    rs = load_rules(*UPSTREAM)
    macro_texts = list(rs.macros["compiled_condition"])
    rule_texts = list(rs.rules["compiled_condition"])
    names = list(rs.macros["name"])

    def parse_and_expand() -> None:
        macros = {n: cond.parse(t) for n, t in zip(names, macro_texts)}
        for text in rule_texts:
            full = nodes.expand(cond.parse(text), macros)
            nodes.evt_types(full)
            nodes.fields(full)
            nodes.to_text(full)

    t = median_time(parse_and_expand, args.runs)
    t_lint = median_time(lambda: lint(rs, config=CheckConfig()), args.runs)
    n = len(macro_texts) + len(rule_texts)
    print(f"{len(rule_texts)} rules, {len(macro_texts)} macros ({n} conditions)")
    print(f"parse + expand + evt types + render  {t:6.3f} s  ({t / n * 1e6:5.0f} us/condition)  "
          f"target < 0.5 s  {'ok' if t < 0.5 else 'MISS'}")
    print(f"lint() (raw parse, positions, checks) {t_lint:6.3f} s")


if __name__ == "__main__":
    main()
