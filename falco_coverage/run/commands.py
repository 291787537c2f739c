"""What each ``falco-coverage`` command does, given its parsed arguments; the parser is in :mod:`.cli`.

Exit codes: 0 fine; 1 findings at ``--fail-on`` or worse, rules Falco would refuse to load, or a
failed report notebook; 2 bad input (one line naming the file); 3 a bug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FalcoCoverageError
from ..findings import SEVERITIES

if TYPE_CHECKING:
    import pandas as pd

    from ..analysis.coverage.compute import Coverage
    from ..analysis.session import Session
    from ..attack import AttackData
    from ..request import Request

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_BUG = 0, 1, 2, 3
#: --fail-on level -> the severities that make the exit code 1
FAIL_LEVELS = {level: set(SEVERITIES[:i + 1]) for i, level in enumerate(SEVERITIES)} | {"never": set()}


def request_of(args: argparse.Namespace) -> Request:
    """The one request a command's arguments describe (what ``report`` and the notebooks use too)."""
    from ..request import Request, Scope

    scope = Scope.of(platforms=getattr(args, "platform", None), maturities=getattr(args, "maturity", None),
                     min_priority=getattr(args, "min_priority", None), sources=getattr(args, "source", None),
                     sensors=getattr(args, "sensor", None),
                     include_disabled=bool(getattr(args, "include_disabled", False)))
    return Request.build(
        rules=getattr(args, "rules", None) or [], base=getattr(args, "base", None) or [],
        attack=getattr(args, "attack", None), attack_version=getattr(args, "attack_version", None),
        config=getattr(args, "config", None), falco_version=getattr(args, "falco_version", None), scope=scope,
        alerts=getattr(args, "alerts", None) or [], since=getattr(args, "since", None),
        prometheus=getattr(args, "prometheus", None), window=getattr(args, "window", None),
        until=getattr(args, "until", None), compare_rules=getattr(args, "compare_with", None) or [],
        compare_attack=getattr(args, "compare_attack", None),
        compare_attack_version=getattr(args, "compare_attack_version", None),
        cache=not getattr(args, "no_cache", False))


def session_of(args: argparse.Namespace) -> Session:
    from ..analysis.session import Session

    return Session(request_of(args))


def cmd_attack_info(args: argparse.Namespace) -> int:
    from ..attack import active_mask

    attack = session_of(args).attack
    t = attack.techniques
    active = t[active_mask(t)]
    print(f"ATT&CK {attack.domain} {attack.version or '(unknown version)'}")
    print(f"source: {attack.origin}")
    print(f"sha256: {attack.sha256}")
    print(
        f"{len(attack.tactics)} tactics, {int((~active['is_subtechnique']).sum())} techniques and "
        f"{int(active['is_subtechnique'].sum())} sub-techniques active; "
        f"{int(t['revoked'].sum())} revoked, {int(t['deprecated'].sum())} deprecated"
    )
    summary = attack.summary()[["tactic_id", "shortname", "name", "techniques", "subtechniques"]]
    print(summary.to_string(index=False))
    return EXIT_OK


def cmd_attack_download(args: argparse.Namespace) -> int:
    from ..attack.sources import download

    path = download(args.version, domain=args.domain)
    print(path)
    return EXIT_OK


def refused(session: Session) -> bool:
    """Say on stderr when Falco would refuse to start with the session's rules; True then."""
    ruleset = session.ruleset
    errors = ruleset.own_errors
    if errors.empty:
        return False
    rejected = ruleset.rejected_rules
    places = list(dict.fromkeys(f"{f}:{ln}" for f, ln in zip(errors["file"], errors["line"])))
    where = ", ".join(places[:3]) + (f" and {len(places) - 3} more places" if len(places) > 3 else "")
    print(f"falco-coverage: Falco would refuse these rules: {len(errors)} load error(s) at {where}; "
          f"{len(rejected)} rule(s) invalid or dropped (details: falco-coverage rules "
          f"{' '.join(session.request.rules)})",
          file=sys.stderr)
    return True


def cmd_rules(args: argparse.Namespace) -> int:
    from ..present.rules_text import print_diagnostics, write_rules

    session = session_of(args)
    write_rules(session.ruleset, args.format, sys.stdout)
    print_diagnostics(session.ruleset, sys.stderr)
    # like every command: errors in the user's own files fail; the base's are shown, not failed on
    return EXIT_FINDINGS if refused(session) else EXIT_OK


def emit_findings(findings: pd.DataFrame, fmt: str, fail_on: str, *, kinds: tuple[str, ...],
                  attack: AttackData | None = None) -> int:
    """Write findings in ``fmt`` to stdout; the exit code that ``fail_on`` asks for."""
    from ..codes import REGISTRY
    from ..present import findings_formats as formats

    base = Path.cwd()
    if fmt == "json":
        formats.write_json(findings, sys.stdout)
    elif fmt == "sarif":
        import json

        codes = [c for kind in kinds for c in REGISTRY.codes(kind)]
        log = formats.sarif(findings, registry=REGISTRY, codes=codes, attack=attack, base=base)
        json.dump(log, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif fmt == "github":
        formats.write_github(findings, sys.stdout, base)
    else:
        formats.write_text(findings, sys.stdout, base, attack=attack)
    failing = findings["severity"].astype(str).isin(FAIL_LEVELS[fail_on])
    return EXIT_FINDINGS if failing.any() else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    session = session_of(args).load()
    attack = session.attack
    also = None
    if args.also_attack is not None and not args.also_attack.strip():
        raise FalcoCoverageError("--also-attack needs a release (e.g. 18.1) or a bundle file, not an empty value")
    if args.also_attack:
        from ..attack import load_attack
        from ..versions import version_key

        spec = args.also_attack
        also = (load_attack(version=spec, cache=not args.no_cache) if version_key(spec) != (-1,)
                else load_attack(spec, cache=not args.no_cache))
    findings = session.check(suggest=not args.no_suggest, also=also)
    refused(session)  # the load errors are findings too, counted by --fail-on
    return emit_findings(findings, args.format, args.fail_on, kinds=("load", "tag"), attack=attack)


def cmd_lint(args: argparse.Namespace) -> int:
    session = session_of(args)
    findings = session.lint(inline_list_min=args.inline_list_min)
    refused(session)
    return emit_findings(findings, args.format, args.fail_on, kinds=("lint",))


def cmd_fix(args: argparse.Namespace) -> int:
    from ..analysis.tags import fix

    session = session_of(args)
    ruleset, attack = session.ruleset, session.attack
    findings = session.check(include_load=False, suggest=args.suggest)
    skipped: list[tuple[fix.Edit, str]] = []
    edits = fix.plan(findings, ruleset, args.codes, attack=attack, config=session.config, suggest=args.suggest,
                     skipped=skipped)
    for e, why in skipped:
        verb = {"replace": f"replacing {e.old} by {e.new}", "remove": f"removing {e.old}"}.get(e.action, f"adding {e.new}")
        print(f"falco-coverage: note: {e.file}:{e.line}: {e.rule}: not {verb} ({e.code}): {why}", file=sys.stderr)
    status = EXIT_FINDINGS if refused(session) else EXIT_OK
    if not edits:
        print("nothing to fix", file=sys.stderr)
        return status
    results = fix.apply(edits, write=args.write)
    if args.write:
        for file in results:
            n = sum(e.file == file for e in edits)
            keys = len({e.rule for e in edits if e.file == file and e.action == "add_key"})
            print(f"{file}: {n} tag edit(s) written" + (f", {keys} new tags: key(s)" if keys else ""), file=sys.stderr)
    else:
        sys.stdout.write(fix.unified_diff(results))
    return status


def cmd_suggest(args: argparse.Namespace) -> int:
    from ..present.rules_text import write_suggestions

    session = session_of(args)
    ruleset, attack = session.ruleset, session.attack
    rules = ruleset.rules
    only = set(args.rule) if args.rule else None
    if only is not None:
        unknown = sorted(only - set(rules["name"]))
        if unknown:
            raise FalcoCoverageError(f"no rule named {unknown[0]!r} in these files", file=args.rules[0])
    if args.untagged:
        untagged = set(rules.loc[rules["technique_tags"].map(len) == 0, "name"])
        only = untagged if only is None else only & untagged
    found = session.suggest(top=args.top, only=only)
    own = rules[rules["origin"].astype(str) != "base"]
    write_suggestions(found, args.format, sys.stdout, rules=own if only is None else own[own["name"].isin(only)],
                      attack=attack)
    return EXIT_FINDINGS if refused(session) else EXIT_OK


def _coverage(session: Session) -> Coverage:
    cov = session.coverage()
    print(f"falco-coverage: {session.attack.describe()}", file=sys.stderr)  # which release, and where it came from
    return cov


def cmd_coverage(args: argparse.Namespace) -> int:
    session = session_of(args).load()
    cov = _coverage(session)
    t = cov.tactics
    if args.format == "json":
        import json

        payload = {"scope": cov.scope.__dict__, "summary": cov.summary(),
                   "tactics": json.loads(t.to_json(orient="records")),
                   "techniques": json.loads(cov.techniques.assign(tactic=cov.techniques["tactic"].astype(str))
                                            .to_json(orient="records")),
                   "tactic_only": json.loads(cov.tactic_only.assign(tactic=cov.tactic_only["tactic"].astype(str))
                                             .to_json(orient="records")),
                   "gaps": json.loads(cov.gaps.to_json(orient="records")),
                   "observability": json.loads(cov.observability.to_json(orient="records"))}
        json.dump(payload, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        t.to_csv(sys.stdout, index=False)
    else:
        s = cov.summary()
        print(cov.scope.describe())
        print(f"{s['covered']} of {s['applicable']} applicable techniques covered ({s['coverage']:.0%})")
        shown = ["tactic_id", "name", "applicable", "covered", "coverage", "n_rules"]
        if cov.has_observability:
            print(f"{s['observable']} more observable by {', '.join(cov.scope.sensors) or 'no sensor'} "
                  f"(a new rule would detect them), {s['partly_observable']} partly observable (the sensors see part "
                  f"of what it takes), {s['not_observable']} not observable (another sensor needed)")
            shown[4:4] = ["observable", "partly_observable", "not_observable"]
        view = t.assign(coverage=(t["coverage"] * 100).round(0).astype(int).astype(str) + "%")
        print(view[shown].to_string(index=False))
        if len(cov.tactic_only):
            per = cov.tactic_only.groupby("tactic", observed=True)["rule"].nunique()
            print("rules with only tactic tags, per tactic: "
                  + ", ".join(f"{cov.tactic_names.get(str(k), k)} {v}" for k, v in per.items()))
    for note in cov.scope.notes:
        print(f"falco-coverage: note: {note}", file=sys.stderr)
    return EXIT_FINDINGS if refused(session) else EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    """What fired: per rule (fires, first and last seen, hosts, share), silent and noisy rules, alerts of
    rules not in the set. Unreadable lines are counted on stderr (the first few with file:line)."""
    session = session_of(args).load()  # a bad rules file is the first error said
    aset = session.alerts()
    obs = session.observed(noisy_share=args.noisy_share)
    per = obs.rules
    if args.format == "json":
        import json

        payload = {"summary": {**obs.summary(), "unreadable_lines": len(aset.problems),
                               "internal_skipped": aset.n_internal},
                   "rules": json.loads(per.to_json(orient="records", date_format="iso")),
                   "problems": json.loads(aset.problems.head(100).to_json(orient="records"))}
        json.dump(payload, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        per.assign(tags=per["tags"].map(",".join), hosts=per["hosts"].map(",".join)).to_csv(sys.stdout, index=False)
    else:
        print(aset.summary())
        fired = per[per["fires"] > 0]
        view = fired.assign(share=(fired["share"] * 100).round(1).astype(str) + "%", hosts=fired["hosts"].map(len))
        print(view[["rule", "fires", "share", "hosts", "first_seen", "last_seen", "in_ruleset"]].to_string(index=False)
              if len(view) else "no rule fired")
        print(f"silent (enabled, no fire): {len(obs.silent)} rule(s)"
              + (": " + ", ".join(obs.silent["rule"].head(10)) + (" ..." if len(obs.silent) > 10 else "")
                 if len(obs.silent) else ""))
        if len(obs.unknown):
            print(f"fired but not in the rule set: {', '.join(obs.unknown['rule'].head(10))}")
    for file, line, reason in aset.problems.head(5).itertuples(index=False):
        print(f"falco-coverage: warning: {file}:{line}: {reason}", file=sys.stderr)
    if len(aset.problems) > 5:
        print(f"falco-coverage: warning: {len(aset.problems) - 5} more line(s) could not be read", file=sys.stderr)
    return EXIT_FINDINGS if refused(session) else EXIT_OK


def cmd_layer(args: argparse.Namespace) -> int:
    from ..present.layers import to_navigator

    if args.svg or args.xlsx:
        from ..extras import require

        require("layers", "layer --svg/--xlsx")
    for given in filter(None, (args.output, args.svg, args.xlsx)):  # where each file goes, before any work
        target = Path(given)
        if target.is_dir():
            raise FalcoCoverageError("is a directory; name the file to write", file=target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FalcoCoverageError(f"cannot write here: {exc.strerror or exc}", file=target.parent) from None
    session = session_of(args).load()
    attack = session.attack
    cov = _coverage(session)
    layer = to_navigator(cov, args.name, args.output, states=args.states)
    print(f"{args.output}: Navigator layer with {len(layer['techniques'])} technique cells", file=sys.stderr)
    for note in cov.scope.notes:
        print(f"falco-coverage: note: {note}", file=sys.stderr)
    if args.svg or args.xlsx:
        from ..present.layers import export

        export(layer, attack, svg=args.svg, xlsx=args.xlsx)
        for extra in filter(None, (args.svg, args.xlsx)):
            print(f"{extra}: written", file=sys.stderr)
    return EXIT_FINDINGS if refused(session) else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from ..extras import require
    from .report import ReportOptions, run_report

    if not args.summary_only:
        require("notebooks", "report (HTML pages from notebooks; --summary-only needs no extra)")
    options = ReportOptions.of(out_dir=args.out, notebooks=[k.strip() for k in args.notebooks.split(",") if k.strip()],
                               name=args.name, history=args.history, summary_only=args.summary_only,
                               keep_notebooks=args.keep_notebooks)
    result = run_report(request_of(args), options)
    print(result.index)
    for failure in result.failed:
        print(f"falco-coverage: error: {failure.error}", file=sys.stderr)
    return EXIT_FINDINGS if result.failed or result.load_errors else EXIT_OK


def cmd_fleet(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from ..versions import PACKAGE_VERSION as __version__
    from ..analysis.summary.fleet import merge, summary_paths
    from ..analysis.summary.runs import dumps
    from ..fsutil import atomic_write
    from ..present.fleet_page import fleet_page

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FalcoCoverageError("is a file, not a directory for the fleet page", file=out)
    fleet = merge(summary_paths(args.summaries), out.resolve())
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "fleet.json", dumps(fleet))
        generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        atomic_write(out / "index.html", fleet_page(fleet, generated=generated, version=__version__).encode("utf-8"))
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write the fleet page here: {exc.strerror or exc}", file=out) from None
    t = fleet["techniques"]
    print(out / "index.html")
    print(f"{len(fleet['clusters'])} cluster(s): {len(t['everywhere'])} techniques detected everywhere, "
          f"{len(t['somewhere'])} somewhere, {len(t['nowhere'])} nowhere; {len(fleet['rules_differ'])} rule(s) differ",
          file=sys.stderr)
    if fleet["older_summaries_ignored"]:
        print(f"falco-coverage: note: {fleet['older_summaries_ignored']} older summary(ies) of the same name(s) "
              "left out (the newest of each name counts)", file=sys.stderr)
    return EXIT_OK
