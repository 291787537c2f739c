"""``falco-coverage`` command line: the parser, and one line on stderr (exit 2) for every user error.

What each command does is in :mod:`.commands`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

from ..codes import AMBIGUOUS, DEFAULT_FIXES, FIXABLE
from ..errors import FalcoCoverageError
from .commands import (
    EXIT_BUG, EXIT_INPUT, EXIT_OK, FAIL_LEVELS, cmd_alerts, cmd_attack_download, cmd_attack_info, cmd_check,
    cmd_coverage, cmd_fix, cmd_fleet, cmd_layer, cmd_lint, cmd_report, cmd_rules, cmd_suggest,
)

RULES_HELP = "rule files or directories, in load order"


def _add_attack_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--attack", metavar="PATH", help="ATT&CK STIX bundle (.json or .json.gz)")
    g.add_argument("--attack-version", metavar="V",
                   help="ATT&CK release, e.g. 19.1, or 'latest' (default: the newest built in, pinned)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the local cache")


def _add_prometheus(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prometheus", metavar="URL",
                   help="a Prometheus server's base URL (http://host:9090): the fires per rule and instance of Falco's "
                        "rule-match counters (Falco's, falco-exporter's, falcosidekick's) over --window")
    p.add_argument("--window", metavar="D", help="with --prometheus: a Prometheus duration ending at --until or now "
                                                  "(default: from --since, else 30d)")


def _add_rules(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    if optional:
        p.add_argument("rules", nargs="*", metavar="RULES",
                       help="rule files or directories (default: /etc/falco rules if present, else the example set)")
    else:
        p.add_argument("rules", nargs="+", metavar="RULES", help=RULES_HELP)
    p.add_argument("--base", action="append", metavar="FILE",
                   help="a file (or directory) loaded first, e.g. upstream rules, whose own findings are not "
                        "reported (repeatable, in load order)")
    p.add_argument("--falco-version", metavar="V",
                   help="the Falco release to check fields, event types and required_engine_version against "
                        "(default: the built-in catalogue's, e.g. 0.44.1)")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="a .falco-coverage.yaml or pyproject.toml")


def _add_findings_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text")
    p.add_argument("--fail-on", choices=list(FAIL_LEVELS), default="error",
                   help="lowest severity that makes the exit code 1 (default: error)")
    _add_config(p)


def _add_scope_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--platform", action="append", metavar="P",
                   help="ATT&CK platform in scope (repeatable; default: what the rules' sources observe)")
    p.add_argument("--maturity", action="append", metavar="M",
                   help="stable, incubating, sandbox, deprecated or none (repeatable)")
    p.add_argument("--min-priority", metavar="P", help="only rules at or above this priority")
    p.add_argument("--source", action="append", metavar="S", help="only rules of this source (repeatable)")
    p.add_argument("--include-disabled", action="store_true", help="count disabled rules too")
    p.add_argument("--sensor", action="append", metavar="S",
                   help="a Falco event source you run, whose observability counts (repeatable; default: the "
                        "sources of the rules in scope), e.g. --sensor syscall --sensor k8s_audit")
    _add_config(p)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line, like every other error (exit 2); ``--help`` shows the usage."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("falco-coverage").strip()
        hint = f"falco-coverage {command} --help" if command else "falco-coverage --help"
        self.exit(EXIT_INPUT, f"falco-coverage: error: {message} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    from ..versions import PACKAGE_VERSION as __version__

    parser = _Parser(
        prog="falco-coverage", description="MITRE ATT&CK coverage and tag checks for Falco rules."
    )
    parser.add_argument("--version", action="version", version=f"falco-coverage {__version__}")
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
    _add_rules(rules)
    rules.add_argument("--format", choices=["table", "json", "csv"], default="table")
    rules.set_defaults(func=cmd_rules)

    chk = sub.add_parser("check", help="check the ATT&CK tags of the rules (exit 1 on findings, 2 on bad input)")
    _add_rules(chk)
    _add_attack_options(chk)
    chk.add_argument("--also-attack", metavar="PATH|VERSION",
                     help="a second (older) release accepted during a transition: its tags are info findings")
    chk.add_argument("--no-suggest", action="store_true",
                     help="do not rank technique suggestions for untagged and tactic-only rules (faster)")
    _add_findings_output(chk)
    chk.set_defaults(func=cmd_check)

    ln = sub.add_parser("lint", help="lint the rule conditions (parse errors, undefined macros, ...; same exits as check)")
    _add_rules(ln)
    _add_findings_output(ln)
    ln.add_argument("--inline-list-min", type=int, default=8, metavar="N",
                    help="literal items from which an inline list should be a named list (default: 8)")
    ln.set_defaults(func=cmd_lint)

    fx = sub.add_parser("fix", help="fix the unambiguous tag findings (prints a diff; --write edits the files)")
    _add_rules(fx)
    _add_attack_options(fx)
    fx.add_argument("--write", action="store_true", help="rewrite the files in place (atomically)")
    fx.add_argument("--codes", action="append", choices=list(FIXABLE), metavar="CODE",
                    help=f"a fix to apply (repeatable; default: {', '.join(DEFAULT_FIXES)}; "
                         f"{', '.join(AMBIGUOUS)} has two possible remedies and is applied only when named)")
    fx.add_argument("--suggest", action="store_true",
                    help="also add the confident technique suggestion (and its tactic) to untagged and "
                         "tactic-only rules")
    _add_config(fx)
    fx.set_defaults(func=cmd_fix)

    sg = sub.add_parser("suggest", help="suggest ATT&CK techniques for the rules, ranked, with the evidence")
    _add_rules(sg)
    _add_attack_options(sg)
    sg.add_argument("--top", type=_positive, default=3, metavar="N", help="suggestions per rule (default: 3)")
    sg.add_argument("--rule", action="append", metavar="NAME", help="only this rule (repeatable)")
    sg.add_argument("--untagged", action="store_true", help="only rules with no technique tag")
    sg.add_argument("--format", choices=["table", "json"], default="table")
    _add_config(sg)
    sg.set_defaults(func=cmd_suggest)

    cv = sub.add_parser("coverage", help="ATT&CK coverage per tactic of the rules in scope")
    _add_rules(cv)
    _add_attack_options(cv)
    _add_scope_options(cv)
    cv.add_argument("--format", choices=["table", "json", "csv"], default="table")
    cv.set_defaults(func=cmd_coverage)

    al = sub.add_parser("alerts", help="what fired: per rule, silent and noisy rules, from Falco's alerts or metrics")
    _add_rules(al)
    al.add_argument("--alerts", action="append", metavar="PATH",
                    help="Falco JSON alerts or metrics, falcosidekick (webhook, Elasticsearch, Loki), Elasticsearch "
                         "and Loki query answers or Prometheus text: files, directories, .gz, or - for standard input "
                         "(repeatable)")
    _add_prometheus(al)
    al.add_argument("--since", metavar="T", help="only alerts at or after T (e.g. 2026-11-01 or 2026-11-01T12:00Z)")
    al.add_argument("--until", metavar="T", help="only alerts at or before T")
    al.add_argument("--noisy-share", type=float, default=0.1, metavar="F",
                    help="a rule with at least this share of all fires is noisy (default: 0.1)")
    al.add_argument("--format", choices=["table", "json", "csv"], default="table")
    al.set_defaults(func=cmd_alerts)

    ly = sub.add_parser("layer", help="write an ATT&CK Navigator layer (4.5) of the coverage")
    _add_rules(ly)
    _add_attack_options(ly)
    _add_scope_options(ly)
    ly.add_argument("-o", "--output", required=True, metavar="FILE", help="layer JSON to write")
    ly.add_argument("--name", default="Falco rules coverage", help="layer name")
    ly.add_argument("--states", action="store_true",
                    help="colour every applicable technique by its state: detected, observable (not detected) or "
                         "not observable (needs ATT&CK 18 or later)")
    ly.add_argument("--svg", metavar="FILE", help="also render the layer as SVG (mitreattack-python, offline)")
    ly.add_argument("--xlsx", metavar="FILE", help="also render the layer as an Excel matrix")
    ly.set_defaults(func=cmd_layer)

    rp = sub.add_parser("report", help="run the notebooks headless into self-contained HTML reports")
    _add_rules(rp, optional=True)
    _add_attack_options(rp)
    rp.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: reports/)")
    rp.add_argument("--notebooks", default="coverage,mistagged,compare,observed", metavar="LIST",
                    help="comma-separated: coverage, mistagged, compare, observed (default: all; compare and "
                         "observed run when given what they need)")
    rp.add_argument("--alerts", action="append", metavar="PATH",
                    help="Falco alerts or metrics (files, directories, .gz): adds the 'what fired' report (repeatable)")
    rp.add_argument("--since", metavar="T", help="with --alerts: only alerts at or after T")
    rp.add_argument("--until", metavar="T", help="with --alerts: only alerts at or before T")
    _add_prometheus(rp)
    rp.add_argument("--compare-with", "--before-rules", action="append", metavar="FILE",
                    help="the BEFORE side: a file (or directory) of another rule set, compared with RULES as the "
                         "AFTER side (repeatable, in load order)")
    g2 = rp.add_mutually_exclusive_group()
    g2.add_argument("--compare-attack", "--before-attack", metavar="PATH",
                    help="the BEFORE side: an older ATT&CK bundle to compare the rules under (--attack is AFTER)")
    g2.add_argument("--compare-attack-version", "--before-attack-version", metavar="V",
                    help="the BEFORE side: an older ATT&CK release, e.g. 18.1 (--attack-version is AFTER)")
    rp.add_argument("--keep-notebooks", action="store_true",
                    help="also keep the executed notebooks under OUT/notebooks/ (large: figures embedded)")
    rp.add_argument("--name", metavar="NAME",
                    help="what this run is, e.g. the cluster (default: the first rules file's name): written in "
                         "summary.json, and how fleet and --history tell runs apart")
    rp.add_argument("--history", metavar="DIR",
                    help="keep this run's summary in DIR too; the landing page then shows the trend of NAME's runs")
    rp.add_argument("--summary-only", action="store_true",
                    help="write OUT/summary.json only (no notebooks, no HTML): fast, for fleets")
    _add_scope_options(rp)
    rp.set_defaults(func=cmd_report)

    fl = sub.add_parser("fleet", help="merge many runs' summary.json (one per cluster) into one fleet page")
    fl.add_argument("summaries", nargs="+", metavar="SUMMARY_OR_DIR",
                    help="summary.json files, or directories searched for them (e.g. reports/*/)")
    fl.add_argument("--out", required=True, metavar="DIR", help="where to write index.html and fleet.json")
    fl.set_defaults(func=cmd_fleet)
    return parser


def _warn(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
          line: str | None = None) -> None:
    print(f"falco-coverage: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _warn  # one line, no source location: warnings here are about the input
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
    except OSError as exc:  # a path given that the system refuses (a name too long, a permission)
        if exc.filename is None:
            return _internal(exc)
        name = str(exc.filename)
        shown = name if len(name) <= 120 else name[:117] + "..."
        print(f"falco-coverage: error: {shown}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug, not bad input: one line, the traceback on request
        return _internal(exc)


def _internal(exc: Exception) -> int:
    """A bug, not bad input: one line, the traceback on request (``FALCO_COVERAGE_DEBUG=1``)."""
    import os

    if os.environ.get("FALCO_COVERAGE_DEBUG"):
        raise exc
    print(f"falco-coverage: internal error: {type(exc).__name__}: {exc} "
          "(set FALCO_COVERAGE_DEBUG=1 for the traceback; please report it)", file=sys.stderr)
    return EXIT_BUG


def run() -> None:
    """The console script: :func:`main`, then exit at once. A short command spends a fifth of its time
    in the interpreter's teardown (freeing every frame and module one by one); the work is done and
    every file written is closed by then, so only the standard streams need flushing."""
    import gc
    import os

    gc.freeze()  # what the imports made lives until exit: the collector need not scan it again and again
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):  # the reader went away (| head): nothing more can be said
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
