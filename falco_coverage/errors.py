"""Exception types: every user-facing failure is a FalcoCoverageError with a one-line message."""

from __future__ import annotations

from pathlib import Path


class FalcoCoverageError(Exception):
    """Base class. ``str(err)`` is one line naming the file (and line) at fault."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        self.message = " ".join(str(message).split())
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.message}"


class AttackSourceError(FalcoCoverageError):
    """No ATT&CK bundle could be found or fetched."""


class AttackFormatError(FalcoCoverageError):
    """A file is not a usable ATT&CK STIX bundle."""


class AttackDownloadError(FalcoCoverageError):
    """A download failed or did not match the published SHA-256."""


class RulesError(FalcoCoverageError):
    """A Falco rules file could not be loaded (raised by strict loading or unreadable input)."""


class MissingExtraError(FalcoCoverageError):
    """A feature needs an optional part of the package that is not installed (``pip install 'falco-coverage[X]'``)."""


class ConfigError(FalcoCoverageError):
    """The configuration file is unreadable or holds an unknown key or value."""


class AlertsError(FalcoCoverageError):
    """An input holds no Falco alerts or metrics at all (another kind of file), or cannot be read."""


class RequestError(FalcoCoverageError):
    """A request (or a notebook's ``request`` parameter) names an unknown key or holds a wrong value."""
