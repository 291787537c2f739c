"""Write the sensor profile's tables into docs/observability.md (between its BEGIN/END markers).

    python data/build_sensor_docs.py [--check]

The profile (falco_coverage/analysis/builtin/sensors.yaml) is the source; the doc shows every
mapping with the reason it is there. ``--check`` exits 1 when the doc is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from falco_coverage.analysis.coverage.sensors import builtin_profile
from falco_coverage.config import DEFAULT_SOURCE_PLATFORMS

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "observability.md"
BEGIN, END = "<!-- BEGIN sensor profile -->", "<!-- END sensor profile -->"


def tables() -> str:
    out = []
    for sensor in builtin_profile().values():
        plats = ", ".join(DEFAULT_SOURCE_PLATFORMS.get(sensor.source, [])) or "none"
        out.append(f"### `{sensor.source}` ({plats})\n\n{sensor.why}\n")
        rows = []
        for name, why in sensor.log_sources.items():
            folded = name.casefold()
            extra = [f"{c}: {g} ({w})" for c, (g, w) in {**sensor.by_component.get(folded, {}),
                                                          **sensor.channels.get(folded, {})}.items()]
            rows.append(("log source", name, sensor.grades.get(folded, "full"),
                         why + "".join(f"; {e}" for e in extra), ", ".join(sensor.fields.get(name, ()))))
        for name, why in sensor.data_components.items():
            grade = sensor.component_grades.get(name.casefold(), ("full", ""))[0]
            rows.append(("data component", name, grade, why, ", ".join(sensor.evt_types.get(name, ()))))
        if rows:
            out.append("| kind | ATT&CK name | grade | why | Falco fields / event types |\n|---|---|---|---|---|")
            out.extend(f"| {k} | {n} | {g} | {w} | {f} |" for k, n, g, w, f in rows)
            out.append("")
        else:
            out.append("Observes nothing in ATT&CK's detection model.\n")
    return "\n".join(out).rstrip() + "\n"


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{tables()}\n{END}{tail}"


def main() -> None:
    text = DOC.read_text()
    new = render(text)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if new == text else "docs/observability.md is out of date: run python data/build_sensor_docs.py")
    DOC.write_text(new)
    print(f"{DOC.relative_to(REPO)} written")


if __name__ == "__main__":
    main()
