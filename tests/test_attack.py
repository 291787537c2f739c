"""ATT&CK loading on the hand-written fixture: every value below is worked out from the fixture file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import AttackFormatError, AttackSourceError, FalcoCoverageError, load_attack
from falco_coverage.attack import parse_bundle, version_from_name
from falco_coverage.columns import columns


def _none(x):
    return None if x is None or (not isinstance(x, list) and pd.isna(x)) else x


def test_tactics_in_matrix_order(mini21: Path) -> None:
    a = load_attack(mini21)
    assert list(a.tactics.columns) == columns("attack.tactics")
    assert list(a.tactics["shortname"]) == ["execution", "persistence", "privilege-escalation", "impact"]
    assert list(a.tactics["tactic_id"]) == ["TA0002", "TA0003", "TA0004", "TA0040"]
    assert list(a.tactics["order"]) == [0, 1, 2, 3]
    assert a.tactics.loc[2, "name"] == "Privilege Escalation"
    assert a.tactics.loc[3, "url"] == "https://attack.mitre.org/tactics/TA0040"


@pytest.mark.parametrize("which", ["mini21", "mini20"])
def test_techniques_both_stix_versions(which: str, request: pytest.FixtureRequest) -> None:
    a = load_attack(request.getfixturevalue(which))
    t = a.techniques
    assert list(t.columns) == columns("attack.techniques")
    assert list(t["technique_id"]) == sorted(
        ["T1059", "T1059.004", "T1053", "T1053.003", "T1529", "T1000", "T1001", "T1002"]
    )
    cron = a.technique("T1053.003")
    assert cron["is_subtechnique"] and cron["parent_id"] == "T1053"
    assert cron["tactics"] == ["execution", "persistence", "privilege-escalation"]  # matrix order
    assert cron["platforms"] == ["Linux"]
    assert _none(a.technique("T1053")["parent_id"]) is None
    assert a.technique("t1059.004")["name"] == "Unix Shell"  # case-insensitive lookup
    assert a.technique("T1059")["url"] == "https://attack.mitre.org/techniques/T1059"
    assert a.technique("T1059")["modified"] == pd.Timestamp("2024-04-15T19:58:03.002Z")


def test_revoked_chain_and_deprecated(mini21: Path) -> None:
    a = load_attack(mini21)
    old = a.technique("T1000")
    assert old["revoked"] and old["replaced_by"] == "T1059.004"  # T1000 -> T1001 (revoked) -> T1059.004
    assert a.technique("T1001")["replaced_by"] == "T1059.004"
    dep = a.technique("T1002")
    assert dep["deprecated"] and not dep["revoked"] and _none(dep["replaced_by"]) is None
    assert _none(a.technique("T1059")["replaced_by"]) is None


def test_group_and_software_counts(mini21: Path) -> None:
    a = load_attack(mini21)
    # T1059: G1 (twice, counted once); G2 deprecated and G3's relationship revoked are not counted.
    assert a.technique("T1059")["n_groups"] == 1
    assert a.technique("T1059")["n_software"] == 1  # malware S1
    # T1529: only through campaign C1, attributed to G3.
    assert a.technique("T1529")["n_groups"] == 1
    # T1059.004: tool S2 counts, revoked tool S3 does not.
    assert a.technique("T1059.004")["n_software"] == 1
    assert a.technique("T1053")["n_groups"] == 0


def test_technique_tactics_long_table(mini21: Path) -> None:
    a = load_attack(mini21)
    tt = a.technique_tactics
    assert list(tt.columns) == columns("attack.technique_tactics")
    assert isinstance(tt["tactic"].dtype, pd.CategoricalDtype) and tt["tactic"].cat.ordered
    assert list(tt["tactic"].cat.categories) == ["execution", "persistence", "privilege-escalation", "impact"]
    pairs = set(zip(tt["technique_id"], tt["tactic"].astype(str)))
    assert ("T1053", "persistence") in pairs and ("T1529", "impact") in pairs
    assert not any(t in {"T1000", "T1001", "T1002"} for t, _ in pairs)  # revoked/deprecated excluded
    assert len(tt) == 1 + 1 + 3 + 3 + 1


def test_active_techniques_and_platform_filter(mini21: Path) -> None:
    a = load_attack(mini21)
    assert set(a.active_techniques()["technique_id"]) == {"T1059", "T1059.004", "T1053", "T1053.003", "T1529"}
    assert set(a.active_techniques(platforms=["containers"])["technique_id"]) == {"T1053"}
    assert set(a.active_techniques(platforms=["IaaS", "Windows"])["technique_id"]) == {"T1059", "T1053", "T1529"}
    assert set(a.active_techniques(subtechniques=False)["technique_id"]) == {"T1059", "T1053", "T1529"}


def test_summary_counts(mini21: Path) -> None:
    s = load_attack(mini21).summary().set_index("shortname")
    assert s.loc["execution", "techniques"] == 2 and s.loc["execution", "subtechniques"] == 2
    assert s.loc["impact", "techniques"] == 1 and s.loc["impact", "subtechniques"] == 0


def test_unknown_technique_raises_keyerror(mini21: Path) -> None:
    with pytest.raises(KeyError, match="T9999"):
        load_attack(mini21).technique("T9999")


def test_version_sources(mini21: Path, mini20: Path, tmp_path: Path) -> None:
    assert load_attack(mini21).version == "1.2"  # from the x-mitre-collection object
    assert load_attack(mini20).version == "9.9"  # from the file name
    anon = tmp_path / "bundle.json"
    anon.write_bytes(mini20.read_bytes())
    assert load_attack(anon).version is None  # no collection, no name, hash unknown
    assert version_from_name("enterprise-attack-18.1.json") == "18.1"
    assert version_from_name("enterprise-attack-18.1.json.gz") == "18.1"
    assert version_from_name("attack.json") is None


def test_gzip_bundle_loads_same(mini21: Path, tmp_path: Path) -> None:
    gz = tmp_path / "enterprise-attack-1.2.json.gz"
    gz.write_bytes(gzip.compress(mini21.read_bytes()))
    a, b = load_attack(mini21, cache=False), load_attack(gz, cache=False)
    assert a.sha256 == b.sha256  # keyed by the inflated JSON
    pd.testing.assert_frame_equal(a.techniques, b.techniques)


def test_mismatched_domain_and_version(mini21: Path) -> None:
    with pytest.raises(AttackFormatError, match="mobile-attack"):
        load_attack(mini21, domain="mobile-attack")
    with pytest.raises(FalcoCoverageError, match="version 3.0 was asked for"):
        load_attack(mini21, version="3.0")


# --- bad input ------------------------------------------------------------------------------


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    ("name", "data", "pattern"),
    [
        ("truncated.json", None, r"truncated.json:\d+: not valid JSON"),
        ("empty.json", b"", r"not valid JSON"),
        ("list.json", b"[1, 2, 3]", r"not a STIX bundle"),
        ("notstix.json", b'{"type": "report", "objects": []}', r"not a STIX bundle"),
        ("noattack.json", b'{"type": "bundle", "objects": [{"type": "identity", "id": "identity--1"}]}',
         r"holds no ATT&CK techniques"),
        ("notactics.json", b'{"type": "bundle", "objects": [{"type": "attack-pattern", "id": "attack-pattern--1"}]}',
         r"holds no ATT&CK tactics"),
        ("binary.json.gz", b"\x1f\x8b\x08\x00garbage", r"corrupt gzip"),
        ("garbage.json", bytes(range(256)) * 4, r"not valid JSON"),
    ],
)
def test_bad_bundles_raise_one_line_errors(
    tmp_path: Path, mini21: Path, isolated_env: Path, name: str, data: bytes | None, pattern: str
) -> None:
    if data is None:
        data = mini21.read_bytes()[:5000]
    p = _bad(tmp_path, name, data)
    with pytest.raises(AttackFormatError, match=pattern) as info:
        load_attack(p)
    assert "\n" not in str(info.value)
    assert str(p) in str(info.value)
    assert not list((isolated_env / "frames").glob("*")) if (isolated_env / "frames").exists() else True


def test_unreadable_and_missing_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AttackSourceError, match="no such file"):
        load_attack(tmp_path / "nope.json")
    with pytest.raises(AttackFormatError, match="is a directory"):
        load_attack(tmp_path)
    locked = _bad(tmp_path, "locked.json", b"{}")

    def deny(self: Path, *args: object, **kw: object) -> bytes:  # chmod does not bind root, who runs CI
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(AttackFormatError, match="locked.json: cannot read: Permission denied"):
        load_attack(locked)


def test_parse_bundle_ignores_non_object_entries(mini21: Path) -> None:
    doc = json.loads(mini21.read_text())
    doc["objects"] = [1, None, "x", *doc["objects"]]
    a = parse_bundle(json.dumps(doc).encode())
    assert len(a.techniques) == 8
