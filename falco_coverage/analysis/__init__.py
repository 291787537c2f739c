"""What is done with loaded rules and ATT&CK: ``checks`` (tag findings, over ``tag_index``), ``lint``
(condition findings), ``coverage``, ``compare`` (two coverages or two releases), ``fix`` (tag edits)."""
