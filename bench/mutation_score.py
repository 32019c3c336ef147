"""Mutation score of the science modules, per module and overall, from mutmut's results (`make mutation`).

Reads the ``*.py.meta`` files mutmut 3 writes beside each mutated copy (``.mutation/mutants/src/reeflow/...``).
Score = killed / (killed + survived + no tests + suspicious): a mutant no selected test reaches counts as a
survivor. Timeouts count as killed (the mutant hangs or loops, the tests notice). ``--sample GLOB`` restricts
the count to the mutants a sampled run checked (the same fnmatch pattern given to ``mutmut run``);
``--survivors`` lists the surviving mutant names (show one with ``mutmut show NAME`` from .mutation/).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

MODULES = {
    "reconcile": "clean/reconcile.py",
    "balance (MFA)": "mfa/balance.py",
    "tracing": "mfa/tracing.py",
    "sensitivity": "sensitivity/montecarlo.py",
    "indicators": "mfa/indicators.py",
}

# mutmut.stats.status_by_exit_code (3.8), copied: importing mutmut reads its config from the working directory
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "killed",  # caught by the type checker (none is configured)
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}
COLUMNS = ["killed", "timeout", "survived", "no tests", "suspicious", "skipped", "not checked"]


def module_results(mutants: Path, relative: str) -> dict[str, str]:
    meta = mutants / "src" / "reeflow" / (relative + ".meta")
    if not meta.is_file():
        sys.exit(f"{meta} is absent: run `make mutation` first")
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: STATUS.get(code, "suspicious") for name, code in codes.items()}


def counts(statuses: list[str]) -> dict[str, int]:
    out = dict.fromkeys(COLUMNS, 0)
    for status in statuses:
        out[status] += 1
    return out


def score(c: dict[str, int]) -> float:
    dead = c["killed"] + c["timeout"]
    checked = dead + c["survived"] + c["no tests"] + c["suspicious"]
    return dead / checked if checked else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=Path, default=Path(".mutation/mutants"), help="mutmut's mutants/ folder")
    parser.add_argument("--sample", default="", help="fnmatch pattern of the sampled mutant names, e.g. '*__mutmut_*3'")
    parser.add_argument("--survivors", action="store_true", help="list the surviving (and untested) mutants")
    args = parser.parse_args(argv)

    rows: list[tuple[str, dict[str, int], int]] = []
    survivors: list[str] = []
    for label, relative in MODULES.items():
        results = module_results(args.mutants, relative)
        total = len(results)
        if args.sample:
            results = {k: v for k, v in results.items() if fnmatch.fnmatch(k, args.sample)}
        rows.append((label, counts(list(results.values())), total))
        survivors += sorted(k for k, v in results.items() if v in ("survived", "no tests", "suspicious"))

    scope = f"sample {args.sample!r}" if args.sample else "all mutants"
    print(f"mutation score of the science modules (mutmut, {scope}; score = killed / checked)")
    header = f"{'module':<15}{'mutants':>9}{'checked':>9}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'score':>9}"
    print(header)
    print("-" * len(header))
    overall = dict.fromkeys(COLUMNS, 0)
    grand_total = 0
    for label, c, total in rows:
        checked = sum(c.values()) - c["not checked"]
        print(f"{label:<15}{total:>9}{checked:>9}" + "".join(f"{c[k]:>12}" for k in COLUMNS) + f"{score(c):>9.1%}")
        for k in COLUMNS:
            overall[k] += c[k]
        grand_total += total
    print("-" * len(header))
    checked = sum(overall.values()) - overall["not checked"]
    print(
        f"{'overall':<15}{grand_total:>9}{checked:>9}"
        + "".join(f"{overall[k]:>12}" for k in COLUMNS)
        + f"{score(overall):>9.1%}"
    )
    if args.survivors:
        print()
        print(f"{len(survivors)} surviving / untested mutants (`cd .mutation && ../.venv/bin/mutmut show NAME`):")
        for name in survivors:
            print(" ", name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
