"""`partnerstream serve collector|attributor`: run one deployable on its own (Kafka mode)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the collector or the attributor alone (on Kafka when configured)"
    )
    parser.add_argument("role", choices=("collector", "attributor"))
    parser.add_argument("--host", default=None, help="bind address (default from settings)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default 8000 / 8001)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from services.deployables import serve_attributor, serve_collector

    if args.role == "collector":
        return serve_collector(args.host, args.port)
    return serve_attributor(args.host, args.port)
