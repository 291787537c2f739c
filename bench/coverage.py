"""Coverage and figures speed, side by side in one run.

    python bench/coverage.py [--runs N]

After loading the three upstream files and ATT&CK 18.1 (not timed): ``coverage()``, each figure
(matrix, tactic bars, breakdown, gaps table) and the Navigator layer, median of N runs.
Targets: coverage + all figures < 1 s (issue 5); coverage with observability < 0.1 s, also when the
release's observability is not memoised yet (issue 15: ``coverage() fresh`` clears the memo each run).
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

    def fresh() -> object:
        attack.memo.clear()
        return coverage(rs, attack)

    parts = {
        "coverage()": lambda: coverage(rs, attack),
        "coverage() fresh": fresh,
        "matrix (states)": lambda: plots.matrix_heatmap(cov, color="state"),
        "state_bars": lambda: plots.state_bars(cov),
        "matrix_heatmap": lambda: plots.matrix_heatmap(cov),
        "tactic_bars": lambda: plots.tactic_bars(cov),
        "breakdown": lambda: plots.breakdown(cov, "maturity"),
        "gaps_table": lambda: plots.gaps_table(cov),
        "to_navigator": lambda: to_navigator(cov, "bench"),
    }
    times = {k: median_time(f, args.runs) for k, f in parts.items()}
    for k, t in times.items():
        print(f"{k:<16}{t:7.3f} s")
    total = sum(times[k] for k in ("coverage()", "matrix_heatmap", "tactic_bars", "breakdown", "gaps_table"))
    worst = max(times["coverage()"], times["coverage() fresh"])
    print(f"coverage with observability = {worst:.3f} s  (target < 0.1 s)  {'ok' if worst < 0.1 else 'MISS'}")
    print(f"coverage + 4 figures = {total:.3f} s  (target < 1 s)  {'ok' if total < 1 else 'MISS'};"
          f" with the layer {total + times['to_navigator']:.3f} s")


if __name__ == "__main__":
    main()
