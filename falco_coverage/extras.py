"""The optional parts of the package (pip extras) and the check that one is installed.

The core install serves every command that runs no notebook; ``notebooks`` adds what the HTML reports
and JupyterLab need, ``layers`` the SVG and Excel renderings of a Navigator layer, ``archives`` the
Parquet reader for alert archives. A feature whose
extra is missing stops with :class:`MissingExtraError` (exit 2) naming the install command.
"""

from __future__ import annotations

from importlib.util import find_spec

from .errors import MissingExtraError

#: the import names each extra provides (what ``pyproject.toml`` lists under that extra)
EXTRAS: dict[str, tuple[str, ...]] = {
    "notebooks": ("plotly", "itables", "papermill", "nbconvert", "nbformat", "ipykernel", "jupytext", "jupyterlab"),
    "layers": ("mitreattack",),
    "archives": ("pyarrow",),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if find_spec(m) is None]


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` is installed."""
    gone = missing(extra)
    if gone:
        raise MissingExtraError(f"{feature} needs the '{extra}' extra ({', '.join(gone)} not installed): "
                                f"pip install 'falco-coverage[{extra}]'")
