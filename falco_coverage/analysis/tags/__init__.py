"""Are the ATT&CK tags right, and is the rule set sound? Tag checks (``checks`` with ``tag_index``,
``detection_fit``, ``migration_checks``), Falco's load diagnostics as findings (``load_findings``),
condition lints (``lint``), how tags move between releases (``migrate``) and the fixes (``fix``)."""
