"""``falco-coverage`` command line. Library errors become one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import FalcoCoverageError

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


def _add_attack_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--attack", metavar="PATH", help="ATT&CK STIX bundle (.json or .json.gz)")
    g.add_argument("--attack-version", metavar="V", help="ATT&CK release, e.g. 18.1 (mirror, cache or download)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the local cache")


def _load_attack(args: argparse.Namespace):
    from .attack import load_attack

    return load_attack(args.attack, version=args.attack_version, cache=not args.no_cache)


def cmd_attack_info(args: argparse.Namespace) -> int:
    attack = _load_attack(args)
    t = attack.techniques
    active = t[~(t["revoked"] | t["deprecated"])]
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
    from .attack_sources import download

    path = download(args.version, domain=args.domain)
    print(path)
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from .rules import load_rules
    from .rules_report import print_diagnostics, write_rules

    ruleset = load_rules(*args.rules)
    write_rules(ruleset, args.format, sys.stdout)
    print_diagnostics(ruleset, sys.stderr)
    return EXIT_INPUT if ruleset.has_errors else EXIT_OK


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


if __name__ == "__main__":
    sys.exit(main())
