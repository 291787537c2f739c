"""Where an ATT&CK bundle comes from: a path, the environment, a mirror, the cache, or a download.

Downloads are verified against the SHA-256 list MITRE publishes (as mitreattack-python ships it in
``mitreattack.release_info``; a copy is built into the package, and mitreattack-python's own list,
possibly newer, is read too where it is installed) and land in the cache only once verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

from ..errors import AttackDownloadError, AttackSourceError
from ..versions import version_key
from .cache import bundles_dir, read_provenance, write_provenance

ENV_FILE = "FALCO_COVERAGE_ATTACK"
ENV_DIR = "FALCO_COVERAGE_ATTACK_DIR"
#: Download URL templates by STIX version; ``$FALCO_COVERAGE_ATTACK_URL`` overrides (``{domain}``, ``{version}``).
URL_TEMPLATES = {
    "2.1": "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/{domain}/{domain}-{version}.json",
    "2.0": "https://raw.githubusercontent.com/mitre/cti/ATT%26CK-v{version}/{domain}/{domain}.json",
}
DOWNLOAD_STIX = "2.1"
_SUFFIXES = (".json", ".json.gz")


@lru_cache(maxsize=1)
def _hash_tables() -> dict[str, dict[str, dict[str, str]]]:
    """``{stix: {domain: {version: sha256}}}``: the built-in list, with mitreattack-python's when installed."""
    from importlib.util import find_spec

    from .builtin import BUILTIN_DIR

    tables: dict[str, dict[str, dict[str, str]]] = json.loads((BUILTIN_DIR / "release-hashes.json").read_text())
    if find_spec("mitreattack") is not None:
        from mitreattack import release_info  # heavy import: only when a hash list is needed

        for stix, table in (("2.0", release_info.STIX20), ("2.1", release_info.STIX21)):
            for domain, hashes in table.items():
                tables.setdefault(stix, {}).setdefault(domain, {}).update(hashes)
    return tables


def _release_hashes(domain: str, stix: str) -> dict[str, str]:
    return dict(_hash_tables().get(stix, {}).get(domain.removesuffix("-attack"), {}))


def known_versions(domain: str = "enterprise-attack", stix: str = DOWNLOAD_STIX) -> list[str]:
    """Releases with a published SHA-256, oldest first."""
    return sorted(_release_hashes(domain, stix), key=version_key)


def expected_sha256(domain: str, version: str, stix: str = DOWNLOAD_STIX) -> str | None:
    return _release_hashes(domain, stix).get(version)


def version_from_sha256(sha256: str, domain: str) -> str | None:
    """The release whose published hash is ``sha256`` (either STIX version), else ``None``."""
    try:
        for stix in ("2.1", "2.0"):
            for version, digest in _release_hashes(domain, stix).items():
                if digest == sha256:
                    return version
    except (OSError, ValueError):
        return None
    return None


def _pick(directory: Path, domain: str, version: str | None) -> Path | None:
    """``<domain>-<version>.json[.gz]`` in ``directory``; without a version, the newest one there."""
    if version:
        for suffix in _SUFFIXES:
            p = directory / f"{domain}-{version}{suffix}"
            if p.is_file():
                return p
        return None
    found: list[tuple[tuple[int, ...], Path]] = []
    for suffix in _SUFFIXES:
        for p in directory.glob(f"{domain}-*{suffix}"):
            v = p.name[len(domain) + 1: -len(suffix)]
            if version_key(v) != (-1,):
                found.append((version_key(v), p))
    return max(found)[1] if found else None


def locate(
    source: str | os.PathLike[str] | None, *, version: str | None, domain: str, use_cache: bool = True
) -> Path | None:
    """Resolve the bundle to load, in the documented order. ``None``: the package's built-in snapshot
    of ``version`` serves (asked before any download, so the pinned default needs no network)."""
    from .builtin import builtin_versions

    if source is not None:
        path = Path(source).expanduser()
        if not path.exists():
            raise AttackSourceError("no such file", file=path)
        return path
    if os.environ.get(ENV_FILE):
        path = Path(os.environ[ENV_FILE]).expanduser()
        if not path.exists():
            raise AttackSourceError(f"no such file (from ${ENV_FILE})", file=path)
        return path
    tried: list[tuple[str, list[str]]] = []
    if os.environ.get(ENV_DIR):
        mirror = Path(os.environ[ENV_DIR]).expanduser()
        if not mirror.is_dir():
            raise AttackSourceError(f"${ENV_DIR} is not a directory", file=mirror)
        hit = _pick(mirror, domain, version)
        if hit:
            return hit
        tried.append((f"${ENV_DIR} ({mirror})", _versions_in(mirror, domain)))
    if use_cache:
        hit = _pick(bundles_dir(), domain, version)
        if hit:
            return hit
        tried.append((f"the cache ({bundles_dir()})", _versions_in(bundles_dir(), domain)))
    built_in = builtin_versions(domain)
    if version in built_in:
        return None
    tried.append(("built into falco-coverage", built_in))
    target = version or _newest_known(domain)
    try:
        return download(target, domain=domain, to_cache=use_cache)
    except AttackDownloadError as exc:
        have = "; ".join(f"{where}: {', '.join(vs) or 'none'}" for where, vs in tried)
        raise AttackSourceError(
            f"ATT&CK {domain} {target} is not available offline and the download failed ({exc.message}). "
            f"Releases available here: {have}. Pass --attack PATH, set ${ENV_FILE}=FILE or ${ENV_DIR}=DIR (holding "
            f"{domain}-<version>.json), or run 'falco-coverage attack download --version {target}' where "
            "the network is reachable"
        ) from None


def _versions_in(directory: Path, domain: str) -> list[str]:
    found = {p.name[len(domain) + 1:].split(".json")[0] for suffix in _SUFFIXES
             for p in directory.glob(f"{domain}-*{suffix}")} if directory.is_dir() else set()
    return sorted((v for v in found if version_key(v) != (-1,)), key=version_key)


def newest_known(domain: str = "enterprise-attack") -> str:
    """The newest release with a published hash (what ``--attack-version latest`` asks for)."""
    return _newest_known(domain)


def _newest_known(domain: str) -> str:
    versions = known_versions(domain)
    if not versions:
        raise AttackSourceError(f"no published releases are known for {domain}")
    return versions[-1]


def download(
    version: str, *, domain: str = "enterprise-attack", to_cache: bool = True, timeout: float = 60.0
) -> Path:
    """Download a release, verify its SHA-256, and write it atomically into the cache.

    With ``to_cache=False`` the verified file goes to a temporary directory instead.
    """
    import http.client  # the network stack: imported only when a download is really made
    import urllib.error
    import urllib.request

    expected = expected_sha256(domain, version)
    if expected is None:
        known = known_versions(domain)
        raise AttackDownloadError(
            f"ATT&CK {domain} {version} has no published SHA-256 (known: {', '.join(known[-5:])}, ...)"
        )
    url = os.environ.get("FALCO_COVERAGE_ATTACK_URL", URL_TEMPLATES[DOWNLOAD_STIX]).format(
        domain=domain, version=version
    )
    try:
        dest_dir = bundles_dir() if to_cache else Path(tempfile.mkdtemp(prefix="falco-coverage-"))
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{domain}-{version}.json.", suffix=".part")
    except OSError as exc:
        raise AttackDownloadError(f"cannot write the cache directory: {exc.strerror or exc}",
                                  file=getattr(exc, "filename", None) or bundles_dir()) from None
    dest = dest_dir / f"{domain}-{version}.json"
    digest = hashlib.sha256()
    try:
        from tqdm.auto import tqdm  # a bar in a terminal and in a notebook alike

        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0)
            with tqdm(total=total or None, unit="B", unit_scale=True, desc=dest.name, leave=False,
                      disable=None) as bar:  # disable=None: quiet when stderr is not a terminal
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected:
            raise AttackDownloadError(
                f"SHA-256 mismatch for {url}: got {digest.hexdigest()[:16]}..., "
                f"published {expected[:16]}...; nothing was written", file=None,
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        raise AttackDownloadError(f"cannot download {url}: {reason}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    write_provenance(dest, sha256=expected, source=url,
                     verified_against=f"the SHA-256 MITRE publishes for {domain} {version}")
    return dest


def verify_cached(path: Path, digest: str, domain: str) -> None:
    """A bundle found in the cache is used only if it is what it claims: its recorded provenance
    matches, or (a file put there by hand) its published SHA-256 does, which is then recorded."""
    if path.parent.resolve() != bundles_dir().resolve():
        return
    prov = read_provenance(path)
    if prov and prov.get("sha256") == digest:
        return
    version = path.name.removeprefix(f"{domain}-").split(".json")[0]
    try:
        expected = expected_sha256(domain, version)
    except ImportError:  # no hash list to check against
        expected = None
    if expected is None:
        warnings.warn(f"{path}: no published SHA-256 for this release; the bundle is used unverified", stacklevel=3)
        return
    if expected != digest:
        raise AttackSourceError(f"cached bundle does not match the published SHA-256 of ATT&CK {domain} {version} "
                                f"(got {digest[:16]}..., published {expected[:16]}...); delete it or run "
                                f"'falco-coverage attack download --version {version}'", file=path)
    write_provenance(path, sha256=digest, source="found in the cache",
                     verified_against=f"the SHA-256 MITRE publishes for {domain} {version}")


