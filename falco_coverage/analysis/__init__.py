"""The analyses, grouped by the question each answers: ``tags`` (are the tags right? checks, lints,
fixes, migrations), ``coverage`` (what is detected, what could be seen), ``suggest`` (what should a rule
be tagged with?), ``observed`` (what fired?), ``summary`` (a run's numbers, history and fleets), and
``session`` (one request, every answer)."""
