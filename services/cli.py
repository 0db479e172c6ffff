"""The `partnerstream` console script.

Each sub-command lives in its own module under `services/commands/` and exposes
`register(subparsers)`, which adds its parser and sets `handler` to a function taking the
parsed namespace and returning an exit code. This file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "services.commands.migrate",
    "services.commands.run",
    "services.commands.serve",
    "services.commands.sql",
    "services.commands.attribute",
    "services.commands.simulate",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partnerstream",
        description="Event tracking and multi-touch attribution for partnership programs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
