"""The ``ssam-theory`` command line: ``check``, ``sweep`` and ``reproduce``.

Every failure is one line on stderr and a non-zero exit code; the work itself lives in the
package (:mod:`ssam_theory.claims`, :func:`ssam_theory.sweep`,
:func:`ssam_theory.reproduce.reproduce`), this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import ssam_theory as st

from . import __version__
from ._extras import MissingExtraError
from .reproduce import NOTEBOOKS

# ---- check


_JSON_FIELDS = """\
JSON (--json): a list with one object per claim, in registry order:
  id, title          claim id (C01, C11a, ...) and a few words
  statement          the claim, LaTeX in $...$
  source, tag        where it comes from; tag is classical|derived|peer|paper|observed
  setting            where it is checked
  verdict            holds | violated | inconclusive
  key                the one key number, predicted vs measured (<= 80 characters)
  predicted, measured  the check's prose, numbers of this run
  rows               [{setting, predicted, measured, passes}]: one per setting checked;
                     passes is true/false, or null for a row that only reports
  evidence           numbers behind the verdict; evidence.counterexample when violated,
                     evidence.reason when inconclusive
  check              the function that computed it (module.function)
  formulas           the ssam_theory.theory functions behind the prediction
  seconds            wall time of the check
"""


def _add_check(subparsers) -> None:
    p = subparsers.add_parser(
        "check", help="run the claims registry and print the verdicts",
        description="Derive, trace and check every claim of the registry; print one line per "
                    "claim (id, verdict, key number, seconds). Exit code 0 whatever the "
                    "verdicts (a violated claim is a result); nonzero on errors.",
        epilog=_JSON_FIELDS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="quick settings (seconds)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of records (fields below)")
    p.add_argument("--markdown", action="store_true", help="print the Markdown claims table")
    p.add_argument("--only", default=None, metavar="IDS",
                   help="comma-separated claim ids, e.g. C04,C05")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="claims checked at the same time, in worker processes (default: 1)")
    p.set_defaults(func=_check_main)


def _run_timed(ids, quick: bool, jobs: int):
    """``[(claim, result, seconds)]`` in registry order, ``jobs`` worker processes."""
    from .claims import REGISTRY, by_id
    from .claims.report import run_one

    ids = [c.id for c in REGISTRY] if ids is None else [c.id for c in REGISTRY if c.id in ids]
    if jobs == 1:
        return [(by_id(i), *run_one(i, quick)) for i in ids]
    import concurrent.futures as cf
    import multiprocessing

    with cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
        futures = [ex.submit(run_one, i, quick) for i in ids]
        return [(by_id(i), *f.result()) for i, f in zip(ids, futures)]


def _check_main(args) -> int:
    from .claims import as_records, by_id, markdown_table
    from .claims.report import terminal_table

    ids = None
    if args.jobs < 1:
        print(f"ssam-theory check: error: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    if args.only is not None:
        ids = [s.strip() for s in args.only.split(",") if s.strip()]
        if not ids:
            print(f"ssam-theory check: error: --only: no claim ids in {args.only!r} (e.g. "
                  f"--only C04,C05)", file=sys.stderr)
            return 2
        from .claims import REGISTRY

        known = {c.id.casefold(): c.id for c in REGISTRY}  # c11a, C11A and C11a all name C11a
        try:
            ids = [by_id(known.get(i.casefold(), i)).id for i in ids]
        except ValueError as err:
            print(f"ssam-theory check: error: {err}", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    timed = _run_timed(ids, args.quick, args.jobs)
    elapsed = time.perf_counter() - t0
    results = [(c, r) for c, r, _ in timed]
    if args.json:
        recs = as_records(results, {c.id: t for c, _, t in timed})
        json.dump(recs, sys.stdout, indent=1, ensure_ascii=False)
        print()
    elif args.markdown:
        sys.stdout.write(markdown_table(results))
    else:
        width = max(100, shutil.get_terminal_size((120, 24)).columns)
        print(terminal_table(as_records(results, {c.id: t for c, _, t in timed}), width))
        print(f"{'quick' if args.quick else 'full'} checks, {elapsed:.1f} s; details: "
              f"ssam-theory check --json, or the report of ssam-theory reproduce")
    return 0


# ---- sweep



def parse_range(text: str, flag: str = "range") -> np.ndarray:
    """Parse ``a:b:n`` (linspace), ``a:b:n:log`` (geomspace), ``x,y,…`` or ``x``.

    Raises:
        ValueError: naming ``flag`` and the text, for anything malformed (empty, non-finite,
            ``n < 1``, non-positive ends of a log range, unknown spacing).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{flag}: empty range {text!r}")
    text = text.strip()

    def num(s):
        try:
            x = float(s)
        except ValueError:
            raise ValueError(f"{flag}: {s!r} in {text!r} is not a number") from None
        if not np.isfinite(x):
            raise ValueError(f"{flag}: {s!r} in {text!r} is not finite")
        return x

    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"{flag}: expected a:b:n or a:b:n:log, got {text!r}")
        a, b = num(parts[0]), num(parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            raise ValueError(f"{flag}: n in a:b:n must be an integer, got {text!r}") from None
        if count < 1:
            raise ValueError(f"{flag}: n in a:b:n must be >= 1, got {text!r}")
        if len(parts) == 4:
            if parts[3] != "log":
                raise ValueError(f"{flag}: the 4th field must be 'log', got {text!r}")
            if a <= 0 or b <= 0:
                raise ValueError(f"{flag}: a log range needs a, b > 0, got {text!r}")
            return np.geomspace(a, b, count)
        return np.linspace(a, b, count)
    items = [s for s in text.split(",")]
    if any(not s.strip() for s in items):
        raise ValueError(f"{flag}: empty item in list {text!r}")
    return np.array([num(s) for s in items])


def parse_landscape(text: str):
    """``quadratic:a,b,…`` (diag), ``saddle:a,b`` (diag(a, −b)), ``beale``, or
    ``expr:FORMULA`` (a :class:`ssam_theory.Symbolic` in sympy syntax, variables sorted by
    name; its saddle point is the origin when the gradient vanishes there, else ``None``).

    Returns ``(landscape, saddle_point_or_None)``.
    """

    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "expr":
        try:
            f = st.Symbolic(rest)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--landscape: {exc}") from None
        origin = np.zeros(f.dim)
        return f, origin if not np.any(f.grad(origin)) else None
    if kind == "beale":
        if rest:
            raise ValueError(f"--landscape: beale takes no parameters, got {text!r}")
        return st.Beale(), st.Beale.saddle.copy()
    if kind in ("quadratic", "saddle"):
        vals = parse_range(rest, "--landscape") if rest else np.array([])
        if vals.size == 0:
            raise ValueError(f"--landscape: {kind} needs values, e.g. {kind}:10,1")
        if kind == "saddle":
            if vals.size != 2 or np.any(vals <= 0):
                raise ValueError(f"--landscape: saddle:a,b needs two positive values, got "
                                 f"{text!r}")
            return st.Quadratic(np.diag([vals[0], -vals[1]])), np.zeros(2)
        return st.Quadratic(np.diag(vals)), np.zeros(vals.size)
    raise ValueError(f"--landscape: unknown landscape {text!r} (quadratic:a,b,…, saddle:a,b, "
                     f"beale, expr:FORMULA)")


def _arg(flag, fn):
    def parse(text):
        try:
            return fn(text, flag)
        except ValueError as exc:  # argparse prefixes "argument FLAG: " itself
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    parse.__name__ = flag.lstrip("-")
    return parse


def _parse_seeds(text: str, flag: str = "--seeds"):
    text = text.strip()
    try:
        if "," in text:
            vals = [int(s) for s in text.split(",")]
            if not vals or min(vals) < 0:
                raise ValueError
            return vals
        count = int(text)
    except ValueError:
        raise ValueError(f"{flag}: expected a count n >= 1 or a list of non-negative "
                         f"integers a,b,…, got {text!r}") from None
    if count < 1:
        raise ValueError(f"{flag}: the number of seeds must be >= 1, got {text!r}")
    return count


def _add_sweep(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run one (lr, rho, seed) sweep and save it (.npz)",
        description="Run one rule over a grid of learning rates, radii and seeds; save the "
                    "labelled result. Ranges: a:b:n (linspace), a:b:n:log (geomspace), "
                    "x,y,… or x.")
    p.add_argument("--landscape", required=True,
                   help="quadratic:a,b,… | saddle:a,b | beale | expr:FORMULA (sympy syntax, "
                        "e.g. expr:0.5*x**2-0.5*y**2+0.25*y**4)")
    p.add_argument("--rule", required=True, choices=st.RULES)
    p.add_argument("--lr", required=True, type=_arg("--lr", parse_range))
    p.add_argument("--rho", required=True, type=_arg("--rho", parse_range))
    p.add_argument("--steps", required=True, type=int)
    p.add_argument("--seeds", default=1, type=_arg("--seeds", _parse_seeds),
                   help="a count n (seeds 0…n-1) or a list a,b,…")
    p.add_argument("--saddle", action="store_true",
                   help="classify trapped/escaped around the landscape's saddle (origin for "
                        "quadratic/saddle/expr, (0, 1) for beale)")
    p.add_argument("--escape-radius", type=float, default=1.0,
                   help="distance from the saddle that counts as escaped (default 1)")
    p.add_argument("--truncate", action="store_true")
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--eps", type=float, default=0.0)
    p.add_argument("--out", required=True, help="output file (.npz)")
    p.add_argument("--cache", default=None,
                   help="checkpoint directory (resumable); default .<out>.partial next to "
                        "--out, removed when the result is saved")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--checkpoint-seconds", type=float, default=30.0, metavar="S",
                   help="time bound of a chunk (a checkpoint), default 30")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_sweep_main, _parser=p)


def _sweep_main(args) -> int:
    from .sweep.executors import process_pool, terminate

    p = args._parser
    try:
        landscape, saddle = parse_landscape(args.landscape)
    except ValueError as exc:
        p.error(str(exc))
    if args.saddle and saddle is None:
        p.error(f"--saddle: the gradient of {args.landscape!r} does not vanish at the origin; "
                f"shift the formula so that its saddle is at the origin")
    if args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    if args.steps < 0:
        p.error(f"--steps must be >= 0, got {args.steps}")
    out = check_output_file("--out", args.out)
    # without --cache, checkpoints go next to the output and are removed once it is saved
    own_cache = args.cache is None
    cache = (out.parent / f".{out.name}.partial") if own_cache else Path(args.cache)
    check_output_dir("--cache", cache)
    options = {"truncate": args.truncate, "adaptive": args.adaptive,
               "momentum": args.momentum, "weight_decay": args.weight_decay, "eps": args.eps}
    kwargs = dict(seeds=args.seeds, cache_dir=cache,
                  progress=False if args.no_progress else None,
                  saddle=saddle if args.saddle else None, escape_radius=args.escape_radius,
                  checkpoint_seconds=args.checkpoint_seconds,
                  on_plan=None if args.no_progress else lambda plan: print(
                      f"ssam-theory sweep: {plan.describe()}", file=sys.stderr, flush=True),
                  **options)
    args._interrupt_hint = (f"interrupted; finished chunks are kept in {str(cache)!r}: run the "
                            f"same command again to resume")
    pool = process_pool(args.workers) if args.workers > 1 else None
    try:
        res = st.sweep(landscape, args.rule, args.lr, args.rho, args.steps, executor=pool,
                       **kwargs)
    except (ValueError, TypeError) as exc:
        p.error(str(exc))
    except BaseException:
        terminate(pool)  # Ctrl-C: do not wait for running chunks
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    res.save(out)
    if own_cache:
        _remove_checkpoints(cache)
    counts = ", ".join(f"{o.name.lower()} {int(np.sum(res.outcome == o))}" for o in st.Outcome)
    print(f"{args.out}: {res.settings['rule']} on {res.settings['landscape']['repr']}, "
          f"shape {res.shape}: {counts}")
    return 0


def _remove_checkpoints(cache: Path) -> None:
    """Remove the chunk and layout files of a finished sweep, then the directory if empty."""
    for f in cache.iterdir():
        if f.suffix == ".npz" or f.name.endswith(".plan.json"):
            f.unlink(missing_ok=True)
    try:
        cache.rmdir()
    except OSError:  # not empty: something else lives there
        pass


# ---- output paths: checked before any work


def _probe_dir(flag: str, d: Path) -> None:
    from ._validate import writable_dir

    try:
        writable_dir(flag, d)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def check_output_file(flag: str, path) -> Path:
    """The output file's directory exists (or is created) and is writable; ``path`` is not a
    directory. Raises :class:`CliError` naming ``flag`` otherwise."""
    path = Path(path)
    if path.is_dir():
        raise CliError(f"{flag}: {str(path)!r} is a directory, expected a file path")
    _probe_dir(flag, path.parent)
    return path


def check_output_dir(flag: str, path) -> Path:
    """The output directory exists (or is created) and is writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag}: {str(path)!r} exists and is not a directory")
    _probe_dir(flag, path)
    return path


# ---- reproduce


def _reproduce_main(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    check_output_dir("--out", args.out)
    if args.jobs is not None and args.jobs < 1:
        raise CliError(f"--jobs must be >= 1, got {args.jobs}")
    if args.claim_workers is not None and args.claim_workers < 0:
        raise CliError(f"--claim-workers must be >= 0, got {args.claim_workers}")
    result = reproduce(out=args.out, quick=args.quick, notebooks=args.notebook or None,
                       jobs=args.jobs, claims=not args.no_claims,
                       update_readme=args.update_readme, claim_workers=args.claim_workers,
                       progress=False if args.no_progress else True)
    for r in result.notebooks:
        status = "ok" if r.error is None else "FAILED"
        print(f"{r.name:<22} {r.seconds:7.1f} s  {status}")
        if r.error:
            print(r.error, file=sys.stderr)
    if result.claim_error:
        print(f"claims report FAILED: {result.claim_error}", file=sys.stderr)
    elif result.report:
        v = list(result.verdicts.values())
        print(f"claims: {v.count('holds')} hold, {v.count('violated')} violated, "
              f"{v.count('inconclusive')} inconclusive -> {result.report}")
        if args.update_readme:
            print(f"claims table refreshed in {args.update_readme}")
    print(f"{len(result.figures)} figures in {result.out} ({result.seconds:.1f} s total)")
    ok = all(r.error is None for r in result.notebooks) and result.claim_error is None
    return 0 if ok else 1


def _add_reproduce(subparsers) -> None:
    """Register ``ssam-theory reproduce``."""
    p = subparsers.add_parser(
        "reproduce", help="run every notebook headless; write figures and the claims report",
        description="Execute every notebook in a fresh Jupyter kernel and, meanwhile, every "
                    "claim check in worker processes; write each figure as "
                    "<out>/<notebook>_<panel>.png, the claims report <out>/claims.md and its "
                    "records <out>/claims.json (the fields of `ssam-theory check --help`). "
                    "Nothing outside --out is written unless --update-readme is given.")
    p.add_argument("--quick", action="store_true",
                   help="small grids and step counts (about 30 s on two cores)")
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output directory (default: figures)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="notebooks executed at the same time (default: the number of CPUs)")
    p.add_argument("--claim-workers", type=int, default=None, metavar="N",
                   help="worker processes for the claim checks, run while the notebooks run "
                        "(default: the number of CPUs; 0: after the notebooks, in this "
                        "process)")
    p.add_argument("--notebook", action="append", choices=NOTEBOOKS, metavar="NAME",
                   help="run only this notebook (repeatable); default: all")
    p.add_argument("--no-claims", action="store_true",
                   help="skip the claim checks and the report")
    p.add_argument("--update-readme", nargs="?", const="README.md", default=None,
                   metavar="README",
                   help="also refresh the generated claims table of this README (default: "
                        "README.md); its links point at the report in --out")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress display (by default: a bar on a terminal, else one line "
                        "per finished notebook or claim on stderr)")
    p.set_defaults(func=_reproduce_main)


class CliError(Exception):
    """A failure reported as one line on stderr (exit code 1)."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit code 2), not usage plus message."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ssam-theory",
        description="Check the theory of sharpness-aware minimization numerically.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check(sub)
    _add_sweep(sub)
    _add_reproduce(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every failure is one line on stderr and a non-zero exit code
    (2: bad usage or a missing extra, 1: an error while working, 130: interrupted), never a
    traceback."""
    args = build_parser().parse_args(argv)
    prog = f"ssam-theory {args.command}"
    try:
        return int(args.func(args) or 0)
    except MissingExtraError as exc:  # one line naming the extra (and the command) to install
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "_interrupt_hint", None) or "interrupted"
        print(f"{prog}: {hint}", file=sys.stderr)
        return 130
    except CliError as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError, MemoryError) as exc:
        print(f"{prog}: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, with its type
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
