"""Entry points on top of everything else: ``cli`` (the ``falco-coverage`` command) and ``report``
(the notebooks run headless into HTML). Nothing in the package imports them."""
