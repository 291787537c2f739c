"""What did a run find, over time and across clusters? A run's ``summary.json`` and its history
(``runs``), and many clusters' summaries merged into a fleet (``fleet``)."""

from .runs import FIELDS, build_summary, changes, coverage_share, dumps, read_summary, record_history, rule_digests

__all__ = ["FIELDS", "build_summary", "changes", "coverage_share", "dumps", "read_summary", "record_history",
           "rule_digests"]
