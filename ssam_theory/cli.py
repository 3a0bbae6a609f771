"""The ``ssam-theory`` command line: ``check``, ``sweep`` and ``reproduce``.

Each sub-command lives beside the code it drives and registers itself through an
``add_parser(subparsers)`` function that sets ``func`` (called with the parsed arguments,
returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# modules that each contribute one sub-command
_COMMAND_MODULES: tuple[str, ...] = ("ssam_theory.reproduce", "ssam_theory.sweep",
                                     "ssam_theory.claims.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssam-theory",
        description="Check the theory of sharpness-aware minimization numerically.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
