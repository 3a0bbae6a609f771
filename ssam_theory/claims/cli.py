"""``ssam-theory check [--quick] [--json] [--only C04,C05] [--markdown]``."""

from __future__ import annotations

import json
import sys
import time


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "check", help="run the claims registry (SPEC §4) and print the verdicts",
        description="Derive, trace and check the claims of SPEC §4. Exit code 0 whatever "
                    "the verdicts (a violated claim is a result); nonzero on errors.")
    p.add_argument("--quick", action="store_true", help="quick settings (≤ 60 s)")
    p.add_argument("--json", action="store_true", help="print a JSON list of results")
    p.add_argument("--markdown", action="store_true", help="print the Markdown claims table")
    p.add_argument("--only", default=None, metavar="IDS",
                   help="comma-separated claim ids, e.g. C04,C05")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from . import REGISTRY, as_records, by_id, markdown_table, run_checks

    ids = None
    if args.only:
        ids = [s.strip().upper() for s in args.only.split(",") if s.strip()]
        try:
            for i in ids:
                by_id(i)
        except ValueError as err:
            print(f"ssam-theory check: error: {err}", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    results = run_checks(ids, quick=args.quick)
    elapsed = time.perf_counter() - t0
    if args.json:
        json.dump(as_records(results), sys.stdout, indent=1, ensure_ascii=False)
        print()
    elif args.markdown:
        sys.stdout.write(markdown_table(results))
    else:
        w = max(len(c.title) for c in REGISTRY)
        for c, r in results:
            print(f"{c.id}  {c.title:<{w}}  [{r.verdict}]")
            print(f"      predicted: {r.predicted}")
            print(f"      measured:  {r.measured}")
        counts = {v: sum(r.verdict == v for _, r in results)
                  for v in ("holds", "violated", "inconclusive")}
        print(f"{len(results)} claims in {elapsed:.1f} s ({'quick' if args.quick else 'full'}): "
              + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 0
