"""Where a bundle comes from, the frames cache, and the verified download (file:// URLs, no network)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import AttackSourceError, load_attack
from falco_coverage.attack import cache as attack_cache
from falco_coverage.attack.builtin import builtin_versions, default_version

from .conftest import REPO
from falco_coverage.attack import sources as attack_sources
from falco_coverage.run.cli import main


def _frames(cache: Path) -> list[Path]:
    return sorted((cache / "frames").glob("*.json")) if (cache / "frames").exists() else []


# --- cache ------------------------------------------------------------------------------------


def test_second_load_comes_from_cache(mini21: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_attack(mini21)
    assert len(_frames(isolated_env)) == 1

    def no_parse(*a, **k):
        raise AssertionError("parsed again although cached")

    monkeypatch.setattr("falco_coverage.attack.parse_bundle", no_parse)
    second = load_attack(mini21)
    pd.testing.assert_frame_equal(first.techniques, second.techniques)
    pd.testing.assert_frame_equal(first.technique_tactics, second.technique_tactics)
    assert second.version == "1.2" and second.sha256 == first.sha256


def test_cache_false_neither_reads_nor_writes(mini21: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_attack(mini21, cache=False)
    assert _frames(isolated_env) == []
    load_attack(mini21)  # now cached
    calls = []
    real = attack_cache.read_frames
    monkeypatch.setattr(attack_cache, "read_frames", lambda d: calls.append(d) or real(d))
    load_attack(mini21, cache=False)
    assert calls == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_cache_entry_is_rebuilt(mini21: Path, isolated_env: Path, damage: str) -> None:
    good = load_attack(mini21)
    (entry,) = _frames(isolated_env)
    blob = entry.read_bytes()
    entry.write_bytes({
        "truncate": blob[: len(blob) // 2],
        "flip": blob[:-10] + bytes([blob[-10] ^ 0xFF]) + blob[-9:],
        "garbage": b"\x00" * 100,
        "empty": b"",
    }[damage])
    again = load_attack(mini21)
    pd.testing.assert_frame_equal(good.techniques, again.techniques)
    assert entry.read_bytes() == blob  # rewritten with the good frames


def test_stale_entry_under_wrong_key_is_not_trusted(mini21: Path, mini20: Path, isolated_env: Path) -> None:
    a21 = load_attack(mini21)
    a20 = load_attack(mini20)
    e21 = next(p for p in _frames(isolated_env) if p.name.startswith(a21.sha256))
    e20 = next(p for p in _frames(isolated_env) if p.name.startswith(a20.sha256))
    shutil.copy(e21, e20)  # frames of another bundle filed under mini20's hash
    again = load_attack(mini20)
    assert again.sha256 == a20.sha256 and again.version == "9.9"


def test_unwritable_cache_is_not_an_error(mini21: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FALCO_COVERAGE_CACHE_DIR", str(blocker / "sub"))  # a path under a file
    assert load_attack(mini21).version == "1.2"


# --- locating ---------------------------------------------------------------------------------


def test_env_file_then_mirror(mini21: Path, mini20: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCO_COVERAGE_ATTACK", str(mini21))
    assert load_attack().version == "1.2"
    monkeypatch.delenv("FALCO_COVERAGE_ATTACK")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(mini20, mirror / "enterprise-attack-9.9.json")
    shutil.copy(mini20, mirror / "enterprise-attack-10.0.json")
    shutil.copy(mini20, mirror / "enterprise-attack-notaversion.json")
    monkeypatch.setenv("FALCO_COVERAGE_ATTACK_DIR", str(mirror))
    # no version asked: the pinned default (the newest built-in release), not whatever is newest here
    pinned = load_attack()
    assert pinned.version == default_version() and pinned.source_path is None and "built into" in pinned.origin
    assert load_attack(version="10.0").source_path.endswith("enterprise-attack-10.0.json")
    assert load_attack(version="9.9").source_path.endswith("enterprise-attack-9.9.json")


def test_env_file_missing_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FALCO_COVERAGE_ATTACK", str(tmp_path / "gone.json"))
    with pytest.raises(AttackSourceError, match=r"gone.json: no such file \(from \$FALCO_COVERAGE_ATTACK\)"):
        load_attack()


def test_cached_bundle_used_before_download(mini20: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_env / "bundles").mkdir()
    shutil.copy(mini20, isolated_env / "bundles" / "enterprise-attack-9.9.json")
    monkeypatch.setattr(attack_sources, "download", lambda *a, **k: pytest.fail("downloaded"))
    assert load_attack(version="9.9").version == "9.9"
    assert load_attack().version == default_version()  # pinned: built in, no download


def _serve(monkeypatch: pytest.MonkeyPatch, directory: Path, sha: str | None) -> None:
    """Point downloads at file:// URLs under ``directory`` and publish ``sha`` for every version."""
    monkeypatch.setenv("FALCO_COVERAGE_ATTACK_URL", directory.as_uri() + "/{domain}-{version}.json")
    monkeypatch.setattr(attack_sources, "expected_sha256", lambda domain, version, stix="2.1": sha)


def test_verified_download_lands_in_cache(mini21: Path, tmp_path: Path, isolated_env: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server = tmp_path / "server"
    server.mkdir()
    shutil.copy(mini21, server / "enterprise-attack-1.2.json")
    _serve(monkeypatch, server, hashlib.sha256(mini21.read_bytes()).hexdigest())
    a = load_attack(version="1.2")
    assert Path(a.source_path) == isolated_env / "bundles" / "enterprise-attack-1.2.json"
    assert a.version == "1.2"
    assert sorted(p.name for p in (isolated_env / "bundles").iterdir()) == [
        "enterprise-attack-1.2.json", "enterprise-attack-1.2.json.provenance.json"]
    prov = json.loads((isolated_env / "bundles" / "enterprise-attack-1.2.json.provenance.json").read_text())
    assert prov["sha256"] == a.sha256 and prov["source"].startswith("file://")


def test_hash_mismatch_writes_nothing(mini21: Path, tmp_path: Path, isolated_env: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    server = tmp_path / "server"
    server.mkdir()
    shutil.copy(mini21, server / "enterprise-attack-17.1.json")  # a release that is not built in
    _serve(monkeypatch, server, "0" * 64)
    with pytest.raises(AttackSourceError, match="SHA-256 mismatch"):
        load_attack(version="17.1")
    assert not any((isolated_env / "bundles").iterdir())  # no file, no .part left behind
    assert main(["attack", "download", "--version", "17.1"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and len(err.strip().splitlines()) == 1


def test_offline_with_nothing_found_says_what_to_provide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, tmp_path / "empty-server", "0" * 64)  # every fetch fails, like no network
    with pytest.raises(AttackSourceError) as info:
        load_attack(version="17.1")
    msg = str(info.value)
    for hint in ("--attack PATH", "$FALCO_COVERAGE_ATTACK=", "$FALCO_COVERAGE_ATTACK_DIR=", "attack download",
                 f"built into falco-coverage: {', '.join(builtin_versions())}"):
        assert hint in msg
    assert "\n" not in msg


def test_unknown_release_has_no_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AttackSourceError, match="99.0 has no published SHA-256"):
        load_attack(version="99.0")


def test_release_list_comes_from_mitreattack() -> None:
    from mitreattack import release_info

    versions = attack_sources.known_versions()
    assert "18.1" in versions and versions[-1] == release_info.LATEST_VERSION
    assert attack_sources.expected_sha256("enterprise-attack", "18.1") == release_info.STIX21["enterprise"]["18.1"]


def test_the_built_in_hash_list_is_what_its_script_makes() -> None:
    import importlib.util

    from falco_coverage.attack.builtin import BUILTIN_DIR

    spec = importlib.util.spec_from_file_location("build_release_hashes", REPO / "data" / "build_release_hashes.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert (BUILTIN_DIR / "release-hashes.json").read_text(encoding="utf-8") == script.render()


def test_downloads_are_verified_without_mitreattack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The core install has no mitreattack-python: the built-in hash list serves."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mitreattack" else real(name, *a))
    monkeypatch.setitem(sys.modules, "mitreattack", None)  # an import would fail
    attack_sources._hash_tables.cache_clear()
    try:
        # MITRE's published SHA-256 of enterprise-attack-18.1.json (STIX 2.1)
        assert attack_sources.expected_sha256("enterprise-attack", "18.1") == \
            "f857d8f78f2f0c0b7db321a711a39fba98546c1e3076a657684850c83d0962fb"
        assert "19.1" in attack_sources.known_versions() and "mobile" in attack_sources._hash_tables()["2.0"]
        assert attack_sources.version_from_sha256(attack_sources.expected_sha256("enterprise-attack", "16.1") or "",
                                                  "enterprise-attack") == "16.1"
    finally:
        attack_sources._hash_tables.cache_clear()


def test_a_warm_load_does_not_read_the_bundle_again(mini21: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "enterprise-attack-1.2.json"
    shutil.copy(mini21, bundle)
    first = load_attack(bundle)
    from falco_coverage.attack import load as load_module

    def no_read(*a: object, **k: object) -> bytes:
        raise AssertionError("the unchanged bundle was read and hashed again")

    monkeypatch.setattr(load_module, "read_bundle_bytes", no_read)
    again = load_attack(bundle)
    assert again.sha256 == first.sha256
    pd.testing.assert_frame_equal(again.techniques, first.techniques)
    monkeypatch.undo()
    # the same size, another content: the stamp (times, inode) changes, so the bundle is hashed again
    bundle.write_bytes(mini21.read_bytes().replace(b'"name": "Cron"', b'"name": "Cxon"'))
    changed = load_attack(bundle)
    assert changed.sha256 != first.sha256 and changed.technique("T1053.003")["name"] == "Cxon"


def test_a_recorded_digest_for_another_file_is_not_trusted(mini21: Path, mini20: Path, tmp_path: Path,
                                                           isolated_env: Path) -> None:
    a = tmp_path / "a.json"
    shutil.copy(mini21, a)
    load_attack(a)
    (record,) = (isolated_env / "frames" / "digests").glob("*.json")
    doc = json.loads(record.read_text())
    doc["sha256"] = load_attack(mini20).sha256  # a record that lies about the file's content
    doc["path"] = "/elsewhere"
    record.write_text(json.dumps(doc))
    assert load_attack(a).version == "1.2"  # the record names another path: ignored, the file is hashed
