"""Results as people and tools read them: ``rules_text`` and ``findings_formats`` (text, JSON, SARIF,
GitHub annotations), ``plots`` (plotly figures), ``layers`` (ATT&CK Navigator), ``notebook`` (display set-up)."""
