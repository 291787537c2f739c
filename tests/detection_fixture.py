"""A tiny ATT&CK detection model on top of the mini bundle, written by hand, with its answers.

Techniques (from mini-attack-2.1.json): T1059 (Linux, Windows, macOS; no strategy), T1059.004 (Linux,
macOS), T1053 (Linux, Windows, Containers), T1053.003 (Linux), T1529 (Linux, Windows, IaaS).

    DET0001 -> T1059.004  AN0001 Linux  auditd:SYSCALL execve        Process Creation
                          AN0002 macOS  macos:unifiedlog             Process Creation
    DET0002 -> T1053.003  AN0003 Linux  linux:syslog (not read)      File Modification (recorded)
    DET0003 -> T1053      AN0004 Linux  auditd:SYSCALL               Process Creation
                          AN0005 Containers kubernetes:audit         Pod Creation
                          AN0006 Windows WinEventLog:Security        Windows Registry Key Modification
                          AN0009 Linux (deprecated: ignored)
    DET0004 -> T1529      AN0007 IaaS   AWS:CloudTrail               Instance Stop
                          AN0008 Linux  linux:syslog                 Host Status (not recorded)
    DET0005 (revoked)     detects T1059: ignored

With the syscall sensor on Linux and Containers: T1059.004 full (1/1), T1053.003 none (linux:syslog is
not a log it reads), T1053 full (AN0004 in full; 1/2), T1529 none (0/1), T1059 none (0/0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import MINI_21

def _tech_ref(tid: str, doc: dict[str, Any]) -> str:
    for o in doc["objects"]:
        if o["type"] == "attack-pattern" and o["external_references"][0]["external_id"] == tid:
            return str(o["id"])
    raise KeyError(tid)


def _obj(kind: str, n: int, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "spec_version": "2.1", "id": f"{kind}--00000000-0000-4000-8000-{n:012d}",
            "created": "2025-10-21T00:00:00.000Z", "modified": "2025-10-21T00:00:00.000Z", **kw}


def _ref(prefix: str, n: int, path: str) -> list[dict[str, str]]:
    return [{"source_name": "mitre-attack", "external_id": f"{prefix}{n:04d}", "url": f"https://attack.mitre.org/{path}"}]


COMPONENTS = {"Process Creation": 32, "File Modification": 61, "Pod Creation": 19,
              "Windows Registry Key Modification": 63, "Instance Stop": 10, "Host Status": 18}


def _dc(name: str) -> str:
    return f"x-mitre-data-component--00000000-0000-4000-8000-{COMPONENTS[name]:012d}"


def _analytic(n: int, platform: str, refs: list[tuple[str, str, str]], desc: str, **kw: Any) -> dict[str, Any]:
    return _obj("x-mitre-analytic", n, name=f"Analytic {n:04d}", description=desc, x_mitre_platforms=[platform],
                external_references=_ref("AN", n, f"detectionstrategies/DET#AN{n:04d}"),
                x_mitre_log_source_references=[{"name": log, "channel": chan, "x_mitre_data_component_ref": _dc(dc)}
                                               for log, chan, dc in refs], **kw)


def detection_objects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The detection model above, for the techniques of ``doc``."""
    objs: list[dict[str, Any]] = [
        _obj("x-mitre-data-component", n, name=name, external_references=_ref("DC", n, f"datacomponents/DC{n:04d}"))
        for name, n in COMPONENTS.items()]
    analytics = [
        _analytic(1, "Linux", [("auditd:SYSCALL", "execve", "Process Creation")],
                  "Detects bash or sh started by a web server process such as nginx."),
        _analytic(2, "macOS", [("macos:unifiedlog", "process start", "Process Creation")], "Shells on macOS."),
        _analytic(3, "Linux", [("linux:syslog", "crontab edits", "File Modification")],
                  "Detects crontab entries written to /var/spool/cron by unusual users."),
        _analytic(4, "Linux", [("auditd:SYSCALL", "execve", "Process Creation")], "Detects the at or atd scheduler."),
        _analytic(5, "Containers", [("kubernetes:audit", "create cronjobs", "Pod Creation")],
                  "Detects CronJob objects created in a cluster."),
        _analytic(6, "Windows", [("WinEventLog:Security", "EventCode=4698", "Windows Registry Key Modification")],
                  "Scheduled tasks on Windows."),
        _analytic(7, "IaaS", [("AWS:CloudTrail", "StopInstances", "Instance Stop")], "Instances stopped in bulk."),
        _analytic(8, "Linux", [("linux:syslog", "shutdown messages", "Host Status")], "Unexpected reboots."),
        _analytic(9, "Linux", [("auditd:SYSCALL", "execve", "Process Creation")], "Deprecated.", x_mitre_deprecated=True),
    ]
    objs += analytics
    aid = {n + 1: a["id"] for n, a in enumerate(analytics)}
    strategies = [(1, "T1059.004", [1, 2]), (2, "T1053.003", [3]), (3, "T1053", [4, 5, 6, 9]), (4, "T1529", [7, 8])]
    rel = 100
    for n, tid, ans in strategies:
        s = _obj("x-mitre-detection-strategy", n, name=f"Strategy {n}", x_mitre_analytic_refs=[aid[a] for a in ans],
                 external_references=_ref("DET", n, f"detectionstrategies/DET{n:04d}"))
        objs.append(s)
        objs.append(_obj("relationship", rel, relationship_type="detects", source_ref=s["id"],
                         target_ref=_tech_ref(tid, doc)))
        rel += 1
    revoked = _obj("x-mitre-detection-strategy", 5, name="Gone", revoked=True, x_mitre_analytic_refs=[aid[1]],
                   external_references=_ref("DET", 5, "detectionstrategies/DET0005"))
    objs += [revoked, _obj("relationship", rel, relationship_type="detects", source_ref=revoked["id"],
                           target_ref=_tech_ref("T1059", doc))]
    return objs


def write_bundle(path: Path, *, pre_v18: bool = False) -> Path:
    """The mini bundle with the detection model above (``pre_v18``: data components detecting
    techniques directly, as before v18: Process Creation -> T1059.004 and T1053, Pod Creation -> T1053,
    Host Status -> T1529)."""
    doc = json.loads(MINI_21.read_text())
    if pre_v18:
        objs: list[dict[str, Any]] = [
            _obj("x-mitre-data-component", n, name=name) for name, n in COMPONENTS.items()]
        for k, (dc, tid) in enumerate([("Process Creation", "T1059.004"), ("Process Creation", "T1053"),
                                       ("Pod Creation", "T1053"), ("Host Status", "T1529")]):
            objs.append(_obj("relationship", 200 + k, relationship_type="detects", source_ref=_dc(dc),
                             target_ref=_tech_ref(tid, doc)))
    else:
        objs = detection_objects(doc)
    doc["objects"] += objs
    path.write_text(json.dumps(doc))
    return path
