"""``python -m falco_coverage`` runs the command line."""

from .run.cli import run

run()
