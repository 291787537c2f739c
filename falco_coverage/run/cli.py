"""``falco-coverage`` command line. Library errors become one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..codes import FIXABLE
from ..errors import FalcoCoverageError
from ..findings import SEVERITIES

if TYPE_CHECKING:
    import pandas as pd

    from ..analysis.coverage import Coverage
    from ..attack import AttackData
    from ..rules import RuleSet

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_BUG = 0, 1, 2, 3


def _add_attack_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--attack", metavar="PATH", help="ATT&CK STIX bundle (.json or .json.gz)")
    g.add_argument("--attack-version", metavar="V", help="ATT&CK release, e.g. 18.1 (mirror, cache or download)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the local cache")


def _load_attack(args: argparse.Namespace) -> AttackData:
    from ..attack import load_attack

    return load_attack(args.attack, version=args.attack_version, cache=not args.no_cache)


def cmd_attack_info(args: argparse.Namespace) -> int:
    from ..attack import active_mask

    attack = _load_attack(args)
    t = attack.techniques
    active = t[active_mask(t)]
    print(f"ATT&CK {attack.domain} {attack.version or '(unknown version)'}")
    print(f"source: {attack.source_path}")
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


def cmd_rules(args: argparse.Namespace) -> int:
    from ..present.rules_text import print_diagnostics, write_rules
    from ..rules import load_rules

    ruleset = load_rules(*args.rules)
    write_rules(ruleset, args.format, sys.stdout)
    print_diagnostics(ruleset, sys.stderr)
    return EXIT_INPUT if ruleset.has_errors else EXIT_OK


#: --fail-on level -> the severities that make the exit code 1
FAIL_LEVELS = {level: set(SEVERITIES[:i + 1]) for i, level in enumerate(SEVERITIES)} | {"never": set()}


def _load_readable(paths: list[str]) -> RuleSet:
    """Load rules; a file that is no readable rules file at all is an input error (printed, exit 2)."""
    from dataclasses import replace

    from ..present.rules_text import print_diagnostics
    from ..rules import load_rules

    ruleset = load_rules(*paths)
    if ruleset.unreadable:
        fatal = ruleset.diagnostics[ruleset.diagnostics["file"].isin(ruleset.unreadable)
                                    & (ruleset.diagnostics["severity"] == "error")]
        print_diagnostics(replace(ruleset, diagnostics=fatal), sys.stderr)
        raise FalcoCoverageError(f"not a readable Falco rules file: {', '.join(ruleset.unreadable)}")
    return ruleset


def _load_rules_for_check(paths: list[str]) -> RuleSet:
    """Load rules for the tag commands. Other load errors (undefined macros, ...) do not stop a tag
    check: one summary line on stderr."""
    ruleset = _load_readable(paths)
    errors = ruleset.errors
    if len(errors):
        print(f"falco-coverage: note: {len(errors)} rule-load error(s) (see 'falco-coverage rules "
              f"{' '.join(paths)}'); tags are checked on the rules as loaded", file=sys.stderr)
    return ruleset


def _emit_findings(findings: pd.DataFrame, fmt: str, fail_on: str, *, kind: str,
                   attack_version: str | None = None) -> int:
    """Write findings in ``fmt`` to stdout; the exit code that ``fail_on`` asks for."""
    from pathlib import Path

    from ..codes import REGISTRY
    from ..present import findings_formats as formats

    base = Path.cwd()
    if fmt == "json":
        formats.write_json(findings, sys.stdout)
    elif fmt == "sarif":
        import json

        log = formats.sarif(findings, registry=REGISTRY, kind=kind, attack_version=attack_version, base=base)
        json.dump(log, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif fmt == "github":
        formats.write_github(findings, sys.stdout, base)
    else:
        formats.write_text(findings, sys.stdout, base)
    failing = findings["severity"].astype(str).isin(FAIL_LEVELS[fail_on])
    return EXIT_FINDINGS if failing.any() else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from ..analysis.checks import check

    ruleset = _load_rules_for_check(args.rules)
    attack = _load_attack(args)
    findings = check(ruleset, attack, config=args.config)
    return _emit_findings(findings, args.format, args.fail_on, kind="tag", attack_version=attack.version)


def cmd_lint(args: argparse.Namespace) -> int:
    from ..analysis.lint import lint

    ruleset = _load_readable(args.rules)
    findings = lint(ruleset, config=args.config, inline_list_min=args.inline_list_min)
    return _emit_findings(findings, args.format, args.fail_on, kind="lint")


def cmd_fix(args: argparse.Namespace) -> int:
    from ..analysis import fix
    from ..analysis.checks import check

    ruleset = _load_rules_for_check(args.rules)
    attack = _load_attack(args)
    findings = check(ruleset, attack, config=args.config)
    edits = fix.plan(findings, ruleset, args.codes)
    if not edits:
        print("nothing to fix", file=sys.stderr)
        return EXIT_OK
    results = fix.apply(edits, write=args.write)
    if args.write:
        for file in results:
            n = sum(e.file == file for e in edits)
            print(f"{file}: {n} tag edit(s) written", file=sys.stderr)
    else:
        sys.stdout.write(fix.unified_diff(results))
    return EXIT_OK


def _coverage(args: argparse.Namespace, attack: AttackData | None = None) -> Coverage:
    from ..analysis.coverage import coverage

    ruleset = _load_readable(args.rules)
    return coverage(ruleset, attack or _load_attack(args), platforms=args.platform,
                    enabled_only=not args.include_disabled,
                    maturities=args.maturity, min_priority=args.min_priority, sources=args.source)


def cmd_coverage(args: argparse.Namespace) -> int:
    cov = _coverage(args)
    t = cov.tactics
    if args.format == "json":
        import json

        payload = {"scope": cov.scope.__dict__, "summary": cov.summary(),
                   "tactics": json.loads(t.to_json(orient="records")),
                   "techniques": json.loads(cov.techniques.assign(tactic=cov.techniques["tactic"].astype(str))
                                            .to_json(orient="records"))}
        json.dump(payload, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        t.to_csv(sys.stdout, index=False)
    else:
        s = cov.summary()
        print(cov.scope.describe())
        print(f"{s['covered']} of {s['applicable']} applicable techniques covered ({s['coverage']:.0%})")
        view = t.assign(coverage=(t["coverage"] * 100).round(0).astype(int).astype(str) + "%")
        print(view[["tactic_id", "name", "applicable", "covered", "coverage", "n_rules"]].to_string(index=False))
    return EXIT_OK


def cmd_layer(args: argparse.Namespace) -> int:
    from ..present.layers import to_navigator

    attack = _load_attack(args)
    cov = _coverage(args, attack)
    layer = to_navigator(cov, args.name, args.output)
    print(f"{args.output}: Navigator layer with {len(layer['techniques'])} technique cells", file=sys.stderr)
    if args.svg or args.xlsx:
        from ..present.layers import export

        export(layer, attack.source_path or "", svg=args.svg, xlsx=args.xlsx, domain=attack.domain)
        for extra in filter(None, (args.svg, args.xlsx)):
            print(f"{extra}: written", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import run_report

    keys = [k.strip() for k in args.notebooks.split(",") if k.strip()]
    scope = {k: v for k, v in (("platforms", args.platform), ("maturities", args.maturity),
                                ("min_priority", args.min_priority)) if v}
    result = run_report(
        args.rules, out_dir=args.out, attack=args.attack, attack_version=args.attack_version, notebooks=keys,
        compare_with=args.compare_with, compare_attack=args.compare_attack,
        compare_attack_version=args.compare_attack_version, scope=scope or None,
    )
    print(result.index)
    for failure in result.failed:
        print(f"falco-coverage: error: {failure.error}", file=sys.stderr)
    return EXIT_FINDINGS if result.failed else EXIT_OK


def _add_scope_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("rules", nargs="+", metavar="RULES", help="rule files or directories, in load order")
    _add_attack_options(p)
    p.add_argument("--platform", action="append", metavar="P",
                   help="ATT&CK platform in scope (repeatable; default: what the rules' sources observe)")
    p.add_argument("--maturity", action="append", metavar="M", help="stable, incubating, sandbox, ... (repeatable)")
    p.add_argument("--min-priority", metavar="P", help="only rules at or above this priority")
    p.add_argument("--source", action="append", metavar="S", help="only rules of this source (repeatable)")
    p.add_argument("--include-disabled", action="store_true", help="count disabled rules too")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="falco-coverage", description="MITRE ATT&CK coverage and tag checks for Falco rules."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    attack = sub.add_parser("attack", help="inspect or fetch ATT&CK releases")
    attack_sub = attack.add_subparsers(dest="attack_command", required=True, metavar="ACTION")
    info = attack_sub.add_parser("info", help="version and technique counts per tactic")
    _add_attack_options(info)
    info.set_defaults(func=cmd_attack_info)
    dl = attack_sub.add_parser("download", help="download a release (SHA-256 verified) into the cache")
    dl.add_argument("--version", required=True, help="ATT&CK release, e.g. 18.1")
    dl.add_argument("--domain", default="enterprise-attack")
    dl.set_defaults(func=cmd_attack_download)

    rules = sub.add_parser("rules", help="print the resolved Falco rules (diagnostics on stderr)")
    rules.add_argument("rules", nargs="+", metavar="RULES", help="rule files or directories, in load order")
    rules.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rules.set_defaults(func=cmd_rules)

    chk = sub.add_parser("check", help="check the ATT&CK tags of the rules (exit 1 on findings, 2 on bad input)")
    chk.add_argument("rules", nargs="+", metavar="RULES", help="rule files or directories, in load order")
    _add_attack_options(chk)
    chk.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text")
    chk.add_argument("--fail-on", choices=list(FAIL_LEVELS), default="error",
                     help="lowest severity that makes the exit code 1 (default: error)")
    chk.add_argument("--config", metavar="FILE", help="a .falco-coverage.yaml or pyproject.toml")
    chk.set_defaults(func=cmd_check)

    ln = sub.add_parser("lint", help="lint the rule conditions (parse errors, undefined macros, ...; same exits as check)")
    ln.add_argument("rules", nargs="+", metavar="RULES", help="rule files or directories, in load order")
    ln.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text")
    ln.add_argument("--fail-on", choices=list(FAIL_LEVELS), default="error",
                    help="lowest severity that makes the exit code 1 (default: error)")
    ln.add_argument("--config", metavar="FILE", help="a .falco-coverage.yaml or pyproject.toml")
    ln.add_argument("--inline-list-min", type=int, default=8, metavar="N",
                    help="literal items from which an inline list should be a named list (default: 8)")
    ln.set_defaults(func=cmd_lint)

    fx = sub.add_parser("fix", help="fix the unambiguous tag findings (prints a diff; --write edits the files)")
    fx.add_argument("rules", nargs="+", metavar="RULES", help="rule files or directories, in load order")
    _add_attack_options(fx)
    fx.add_argument("--write", action="store_true", help="rewrite the files in place (atomically)")
    fx.add_argument("--codes", nargs="+", choices=list(FIXABLE), metavar="CODE",
                    help=f"only these fixes (default: all of {', '.join(FIXABLE)})")
    fx.add_argument("--config", metavar="FILE", help="a .falco-coverage.yaml or pyproject.toml")
    fx.set_defaults(func=cmd_fix)

    cv = sub.add_parser("coverage", help="ATT&CK coverage per tactic of the rules in scope")
    _add_scope_options(cv)
    cv.add_argument("--format", choices=["table", "json", "csv"], default="table")
    cv.set_defaults(func=cmd_coverage)

    ly = sub.add_parser("layer", help="write an ATT&CK Navigator layer (4.5) of the coverage")
    _add_scope_options(ly)
    ly.add_argument("-o", "--output", required=True, metavar="FILE", help="layer JSON to write")
    ly.add_argument("--name", default="Falco rules coverage", help="layer name")
    ly.add_argument("--svg", metavar="FILE", help="also render the layer as SVG (mitreattack-python, offline)")
    ly.add_argument("--xlsx", metavar="FILE", help="also render the layer as an Excel matrix")
    ly.set_defaults(func=cmd_layer)

    rp = sub.add_parser("report", help="run the notebooks headless into self-contained HTML reports")
    rp.add_argument("rules", nargs="*", metavar="RULES",
                    help="rule files or directories (default: /etc/falco rules if present, else the example set)")
    g = rp.add_mutually_exclusive_group()
    g.add_argument("--attack", metavar="PATH", help="ATT&CK STIX bundle (.json or .json.gz)")
    g.add_argument("--attack-version", metavar="V", help="ATT&CK release, e.g. 18.1 (mirror, cache or download)")
    rp.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: reports/)")
    rp.add_argument("--notebooks", default="coverage,mistagged,compare", metavar="LIST",
                    help="comma-separated: coverage, mistagged, compare (default: all)")
    rp.add_argument("--compare-with", nargs="+", metavar="RULES", help="another rule set to compare with")
    g2 = rp.add_mutually_exclusive_group()
    g2.add_argument("--compare-attack", metavar="PATH", help="another ATT&CK bundle to compare the rules under")
    g2.add_argument("--compare-attack-version", metavar="V", help="another ATT&CK release to compare under")
    rp.add_argument("--platform", action="append", metavar="P", help="coverage scope: ATT&CK platform (repeatable)")
    rp.add_argument("--maturity", action="append", metavar="M", help="coverage scope: maturity (repeatable)")
    rp.add_argument("--min-priority", metavar="P", help="coverage scope: lowest priority")
    rp.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except FalcoCoverageError as exc:
        print(f"falco-coverage: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("falco-coverage: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug, not bad input: one line, the traceback on request
        import os

        if os.environ.get("FALCO_COVERAGE_DEBUG"):
            raise
        print(f"falco-coverage: internal error: {type(exc).__name__}: {exc} "
              "(set FALCO_COVERAGE_DEBUG=1 for the traceback; please report it)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
