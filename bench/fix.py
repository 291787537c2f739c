"""Fix speed beside check speed, in one run, on one generated file.

    python bench/fix.py [--runs N] [--rules N]

A file of N rules (default 10,000), each with two fixable tags (``Mitre_Execution`` and ``t1059``):
2N edits. Measured, median of N runs, side by side:

1. what ``falco-coverage check FILE`` does (load the rules, check them) and what
   ``falco-coverage fix FILE --write`` does (load, check, plan with the re-check of the edited tag
   lists, one pass over the text, atomic write, read-back that verifies it). Target: fix within 2x.
2. the parts alone on the loaded rule set: ``check()`` and the fixing (plan + apply).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _bench import DATA, median_time

from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.config import CheckConfig

RULE = ("- rule: Rule {i}\n  desc: generated\n  condition: evt.type = open and proc.name = p{i}\n"
        "  output: o\n  priority: INFO\n  tags: [host, Mitre_Execution, t1059]\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rules", type=int, default=10_000)
    args = ap.parse_args()
    attack = load_attack(DATA / "attack" / "enterprise-attack-18.1.json")
    cfg = CheckConfig()
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "original.yaml"
        original.write_text("".join(RULE.format(i=i) for i in range(args.rules)))
        work = Path(tmp) / "rules.yaml"
        shutil.copy(original, work)
        rs = load_rules(work)
        findings = check(rs, attack, config=cfg)
        t_check = median_time(lambda: check(rs, attack, config=cfg), args.runs)

        def fix_once() -> int:
            shutil.copy(original, work)
            edits = fix.plan(findings, rs, attack=attack, config=cfg)
            fix.apply(edits, write=True)
            return len(edits)

        def check_command() -> None:
            check(load_rules(original), attack, config=cfg)

        def fix_command() -> None:
            shutil.copy(original, work)
            ruleset = load_rules(work)
            found = check(ruleset, attack, config=cfg, include_load=False)
            fix.apply(fix.plan(found, ruleset, attack=attack, config=cfg), write=True)

        n_edits = fix_once()
        t_fix = median_time(fix_once, args.runs)
        t_check_cmd = median_time(check_command, args.runs)
        t_fix_cmd = median_time(fix_command, args.runs)
        after = load_rules(work).rules["tags"].map(tuple).unique()
    print(f"{args.rules} rules, {n_edits} edits; every rule now {list(after[0])}")
    ratio = t_fix_cmd / t_check_cmd
    print(f"check command (load + check)              {t_check_cmd:6.2f} s")
    print(f"fix --write command (load + check + fix)  {t_fix_cmd:6.2f} s")
    print(f"fix / check = {ratio:.2f}x  (target <= 2x)  {'ok' if ratio <= 2 else 'MISS'}")
    print(f"  parts: check() {t_check:.2f} s; plan + re-check + apply + write + verify {t_fix:.2f} s")

if __name__ == "__main__":
    main()
