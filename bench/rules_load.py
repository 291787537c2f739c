"""Rules loading speed, side by side in one run.

    python bench/rules_load.py [--runs N]

1. The three upstream files (falco_rules, incubating, sandbox) in one process (imports excluded),
   median of N runs. Target: < 0.3 s.
2. Generated files of 1k / 5k / 10k rules with lists, macros, exceptions and overrides.
   Target: 10k < 5 s, and time per rule about constant (linear growth).
3. The 10k file with Falco's field catalogue and schema checks on (the default) and off, side by
   side. Target: checks cost at most 1.3x the load without them.
The condition parse memo is cleared before every run, so repeated runs are not flattered.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


from _bench import UPSTREAM, median_time, runs_arg

from falco_coverage import load_rules
from falco_coverage.rules.compiler import clear_parse_cache


def generate(n_rules: int) -> str:
    """A rules file with n rules, n/10 lists, n/5 macros, exceptions, and n/10 overrides."""
    out = ["- required_engine_version: 0.31.0\n"]
    n_lists, n_macros = max(1, n_rules // 10), max(2, n_rules // 5)
    for i in range(n_lists):
        out.append(f"- list: list_{i}\n  items: [bin_{i}_a, bin_{i}_b, \"bin {i} c\", bin_{i}_d, bin_{i}_e]\n")
    for i in range(n_macros):
        ref = f" and macro_{i - 1}" if i % 3 and i else ""
        out.append(f"- macro: macro_{i}\n  condition: (proc.name in (list_{i % n_lists}) or "
                   f"fd.name startswith /etc/{i}){ref}\n")
    for i in range(n_rules):
        exc = ""
        if i % 4 == 0:
            exc = (f"  exceptions:\n    - name: known_{i}\n      fields: [proc.name, fd.name]\n"
                   f"      comps: [=, startswith]\n      values:\n        - [cron, /var/lib/{i}]\n")
        out.append(
            f"- rule: Rule number {i}\n  desc: generated rule {i}\n"
            f"  condition: evt.type in (open, openat) and macro_{i % n_macros} and not proc.pname in "
            f"(list_{(i + 1) % n_lists})\n"
            f"  output: \"rule {i} fired (proc=%proc.name file=%fd.name)\"\n  priority: WARNING\n"
            f"  tags: [maturity_stable, host, mitre_execution, T1059.004]\n{exc}"
        )
    for i in range(0, n_rules, 10):
        out.append(f"- rule: Rule number {i}\n  condition: and not user.name = root\n  tags: [T1059]\n"
                   "  override:\n    condition: append\n    tags: append\n")
        out.append(f"- list: list_{(i // 10) % n_lists}\n  items: [extra_{i}]\n  override:\n    items: append\n")
    return "".join(out)


def timed(paths: list[Path], runs: int, checks: bool = True) -> float:
    rs = load_rules(*paths, check_fields=checks, check_schema=checks)
    assert not rs.has_errors, rs.errors.head().to_string()

    def once() -> None:
        clear_parse_cache()  # measured without the memo; clearing it costs nothing
        load_rules(*paths, check_fields=checks, check_schema=checks)

    return median_time(once, runs)


def main() -> None:
    args = runs_arg(__doc__)
    load_rules(UPSTREAM[0])  # warm imports
    t_up = timed(UPSTREAM, args.runs)
    n_up = len(load_rules(*UPSTREAM).rules)
    print(f"upstream 3 files ({n_up} rules): {t_up:.3f} s  (target < 0.3 s)  {'ok' if t_up < 0.3 else 'MISS'}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000, 5000, 10000):
            p = Path(tmp) / f"gen_{n}.yaml"
            p.write_text(generate(n))
            results[n] = timed([p], max(1, args.runs // 2))
            size = p.stat().st_size / 1e6
            print(f"generated {n:>6} rules ({size:4.1f} MB): {results[n]:6.3f} s  "
                  f"{results[n] / n * 1e6:6.1f} us/rule")
        off = timed([p], max(1, args.runs // 2), checks=False)
        ratio = results[10000] / off
        print(f"10k with field+schema checks {results[10000]:.3f} s vs without {off:.3f} s: {ratio:.2f}x  "
              f"(target <= 1.3x) {'ok' if ratio <= 1.3 else 'MISS'}")
    growth = (results[10000] / 10000) / (results[1000] / 1000)
    print(f"10k target < 5 s: {'ok' if results[10000] < 5 else 'MISS'};  per-rule time 10k vs 1k = {growth:.2f}x "
          f"(linear = 1.0)")


if __name__ == "__main__":
    main()
