"""File-system helpers shared by the caches and the fixer."""

from __future__ import annotations

import glob
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def cache_dir() -> Path:
    """``$FALCO_COVERAGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/falco-coverage``, else ``~/.cache/falco-coverage``."""
    if os.environ.get("FALCO_COVERAGE_CACHE_DIR"):
        return Path(os.environ["FALCO_COVERAGE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "falco-coverage"


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    The file gets ``mode`` if given, else the mode of the file it replaces, else what the umask
    allows a new file, applied before the rename: readers never see a partial file, and the
    temporary file's private 0600 mode never leaks.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(path)
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        from .errors import FalcoCoverageError

        raise FalcoCoverageError("exists and is not a regular file (a directory, device, pipe or socket); not "
                                 "replaced", file=path)
    if mode is None:
        mode = st.st_mode & 0o7777 if st is not None else _new_file_mode()
    tmp = _written_beside(path, data)
    try:
        os.chmod(tmp, mode)
        if st is not None and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:  # keep the owner and group (possible as root, or for a group the writer is in)
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                pass
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_new(candidates: Iterator[Path], data: bytes) -> Path:
    """Write ``data`` under the first name of ``candidates`` that does not exist yet, and return it.

    The file is written whole beside its name, then hard-linked to it: linking fails on a name that
    exists, so two writers racing for one name never overwrite each other and readers never see a
    partial file."""
    first = next(candidates)
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = _written_beside(first, data)
    try:
        os.chmod(tmp, _new_file_mode())
        target = first
        while True:
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                target = next(candidates)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _new_file_mode() -> int:
    """The mode a new file gets under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _written_beside(path: Path, data: bytes) -> str:
    """A temporary file in ``path``'s directory holding ``data``, flushed to disk (private until chmod-ed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _clean_leftovers(path: Path) -> None:
    """Remove temporary files an earlier writer of ``path`` left when it was killed (its pid is gone)."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        pid = part.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            pass
