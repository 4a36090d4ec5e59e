"""``scale-rllib train | evaluate | tune``: the command-line entry point (one module per subcommand).

Every argument is validated (typed configs, paths, checkpoints, workload files) before any Ray work starts; a bad
value exits with status 2 and a message naming the flag or file, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from scale_rllib.cli import evaluate, train, tune
from scale_rllib.cli.options import HelpFormatter
from scale_rllib.sim.workflow import WorkflowError
from scale_rllib.validation import ConfigError


def build_parser() -> argparse.ArgumentParser:
    """The ``scale-rllib`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="scale-rllib",
        description="SCALE on Ray RLlib: train, evaluate and sweep a cross-attention pointer-network scheduler for "
        "workflow DAGs on clusters of any size (docs/cli.md).",
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (train, evaluate, tune):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scale-rllib`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, FileNotFoundError, WorkflowError) as err:
        print(f"scale-rllib {args.command}: error: {err}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
