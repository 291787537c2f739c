"""The verdict on one ATT&CK log-source reference: does a Falco event source give what it needs?

An analytic names log-source references: a log source (``auditd:SYSCALL``), the data component it
records (Process Creation) and a channel (the system calls or records it means: ``execve``,
``open, write``, "TLS context by unexpected process"). A sensor serves a reference

- ``full``: it reads the same events and what the analytic needs from them;
- ``partial``: it sees the events but not all the analytic needs (the connection but not its TLS
  context; ``write`` calls, which Falco captures only with all events enabled), or it records the
  data component but from another log than the one the analytic reads;
- ``none``: it does not read that log or record that component.

The sensor profile (:mod:`.sensors`) says which logs a source reads and how well; a log graded
``channel`` (the system-call logs) is judged by the calls its channel names, against Falco's event
catalogue: captured by default, only with all events enabled, or recorded without arguments.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ...config import Sensor
from ...rules.catalogue import Catalogue

GRADED = ("none", "partial", "full")
#: I/O calls Falco leaves out by default; on files, the open before them says the same (read or write)
_IO_CALLS = frozenset({"read", "write", "pread", "pwrite", "readv", "writev", "preadv", "pwritev"})
_FILE_COMPONENTS = frozenset({"file creation", "file modification", "file access", "file metadata", "file deletion",
                              "drive access", "drive modification"})
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _join(names: list[str]) -> str:
    return ", ".join(names)


@lru_cache(maxsize=4096)
def channel_calls(channel: str, events: frozenset[str]) -> tuple[str, ...]:
    """The Falco event types a channel names, in order: the words before its first ``:`` when there is
    one (``open, write: writes under /etc``), else all of its words, that are event types."""
    head = channel.split(":", 1)[0] if ":" in channel and "=" not in channel.split(":", 1)[0] else channel
    return tuple(dict.fromkeys(w for w in _WORD.findall(head.lower()) if w in events))


def grade_reference(sensor: Sensor, log: str | None, component: str | None, channel: str | None,
                    cat: Catalogue) -> tuple[str, str]:
    """(``full``, ``partial`` or ``none``, why) for one reference and one sensor."""
    comp = component or "its data component"
    if log is None:  # before v18 a data component detects a technique directly: no log, no channel
        return _component(sensor, component)
    folded = log.casefold()
    if not sensor.names_log(log):
        if sensor.records(component):
            grade, why = _component(sensor, component)
            return "partial", (f"{sensor.source} does not read {log}, but records {comp} from its own events "
                               f"({why})")
        return "none", f"{sensor.source} does not read {log} and does not record {comp}"
    special = sensor.by_component.get(folded, {}).get((component or "").casefold()) \
        or sensor.channels.get(folded, {}).get((channel or "").strip().casefold())
    if special is not None:
        return special
    grade = sensor.grades.get(folded, "full")
    why = next((w for n, w in sensor.log_sources.items() if n.casefold() == folded), "")
    if grade == "channel":
        return _by_channel(sensor, component, channel, cat)
    if grade == "full":
        part = sensor.component_grades.get((component or "").casefold())
        if part is not None and part[0] != "full":
            return part[0], f"{why}; {comp}: {part[1]}"
    return grade, why


def _component(sensor: Sensor, component: str | None) -> tuple[str, str]:
    """A data component by itself: recorded (in full or in part) or not."""
    if not sensor.records(component):
        return "none", f"{sensor.source} does not record {component or 'it'}"
    why = next((w for n, w in sensor.data_components.items() if n.casefold() == str(component).casefold()), "")
    part = sensor.component_grades.get(str(component).casefold())
    return (part[0], part[1]) if part is not None else ("full", why)


def _by_channel(sensor: Sensor, component: str | None, channel: str | None, cat: Catalogue) -> tuple[str, str]:
    """A system-call log's reference, by the calls its channel names (or its data component when it names none)."""
    calls = channel_calls(channel or "", cat.events)
    if not calls:
        grade, why = _component(sensor, component)
        said = f"the channel '{channel}' names no system call" if channel else "no channel is named"
        return grade, f"{said}; {component}: {why}"
    as_open = [c for c in calls if c in _IO_CALLS and (component or "").casefold() in _FILE_COMPONENTS]
    default = [c for c in calls if c not in cat.events_all_only and c not in cat.events_generic]
    all_only = [c for c in calls if c in cat.events_all_only and c not in as_open]
    generic = [c for c in calls if c in cat.events_generic]
    parts = []
    if default:
        parts.append(f"Falco captures {_join(default)} by default")
    if as_open:
        parts.append(f"{_join(as_open)} on files as the opens for reading or writing it captures by default "
                     "(evt.is_open_read, evt.is_open_write)")
    if all_only:
        parts.append(f"{_join(all_only)} only with all events enabled (-A, base_syscalls.all)")
    if generic:
        parts.append(f"{_join(generic)} without arguments (a generic event)")
    grade = "full" if not all_only and not generic else "partial"
    comp_grade, comp_why = _component(sensor, component)
    if grade == "full" and comp_grade != "full":
        grade = "partial"
        parts.append(f"but {component}: {comp_why}" if comp_grade == "partial" else
                     f"but not what {component} needs from them")
    return grade, "; ".join(parts)


def best(verdicts: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """The best of several sensors' (grade, why, sensor) for one reference (the first of equals)."""
    return max(verdicts, key=lambda v: GRADED.index(v[0]))
