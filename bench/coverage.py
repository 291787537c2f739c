"""Coverage and figures speed, side by side in one run.

    python bench/coverage.py [--runs N]

After loading the three upstream files and ATT&CK 18.1 (not timed): ``coverage()``, each figure
(matrix, tactic bars, breakdown, gaps table) and the Navigator layer, median of N runs.
Target (issue 5): coverage + all figures < 1 s.
"""

from __future__ import annotations


from _bench import DATA, UPSTREAM, median_time, runs_arg


def main() -> None:
    args = runs_arg(__doc__)
    from falco_coverage import load_attack, load_rules, plots
    from falco_coverage.analysis.coverage import coverage
    from falco_coverage.present.layers import to_navigator

    rs = load_rules(*UPSTREAM)
    attack = load_attack(DATA / "attack" / "enterprise-attack-18.1.json")
    cov = coverage(rs, attack)
    plots.matrix_heatmap(cov)  # first plotly import is not what we measure
    to_navigator(cov, "warm")
    parts = {
        "coverage()": lambda: coverage(rs, attack),
        "matrix_heatmap": lambda: plots.matrix_heatmap(cov),
        "tactic_bars": lambda: plots.tactic_bars(cov),
        "breakdown": lambda: plots.breakdown(cov, "maturity"),
        "gaps_table": lambda: plots.gaps_table(cov),
        "to_navigator": lambda: to_navigator(cov, "bench"),
    }
    times = {k: median_time(f, args.runs) for k, f in parts.items()}
    for k, t in times.items():
        print(f"{k:<16}{t:7.3f} s")
    total = sum(v for k, v in times.items() if k != "to_navigator")
    print(f"coverage + 4 figures = {total:.3f} s  (target < 1 s)  {'ok' if total < 1 else 'MISS'};"
          f" with the layer {total + times['to_navigator']:.3f} s")


if __name__ == "__main__":
    main()
