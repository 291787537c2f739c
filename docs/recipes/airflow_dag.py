"""Nightly ATT&CK coverage on Airflow: dynamic task mapping, one papermill run per cluster, then the fleet.

Each mapped ``report`` task runs falco-coverage's notebooks with papermill (``run_report``) for one
cluster's rules; ``fleet`` merges the summaries the mapped tasks return.
"""

from __future__ import annotations

import os
import subprocess

import pendulum
from airflow.decorators import dag, task

RULES_ROOT = "/opt/falco/clusters"      # one directory of rule files per cluster
REPORTS = "/opt/falco-coverage/reports"


@dag(schedule="17 3 * * *", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["falco"])
def falco_coverage_nightly() -> None:
    @task
    def clusters() -> list[str]:
        return sorted(d for d in os.listdir(RULES_ROOT) if os.path.isdir(os.path.join(RULES_ROOT, d)))

    @task
    def report(cluster: str) -> str:
        from falco_coverage.run.report import run_report

        result = run_report({"rules": [os.path.join(RULES_ROOT, cluster)]}, name=cluster,
                            out_dir=os.path.join(REPORTS, cluster), history=os.path.join(REPORTS, "history"),
                            progress=False)
        if result.failed:
            raise RuntimeError("; ".join(str(r.error) for r in result.failed))
        return str(result.out_dir / "summary.json")

    @task
    def fleet(summaries: list[str]) -> str:
        subprocess.run(["falco-coverage", "fleet", *summaries, "--out", os.path.join(REPORTS, "fleet")], check=True)
        return os.path.join(REPORTS, "fleet", "index.html")

    fleet(report.expand(cluster=clusters()))


falco_coverage_nightly()
