"""`partnerstream run`: the whole pipeline in one process (local durable bus + embedded chDB)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run", help="collector + attributor + reports in one process, on the embedded defaults"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./data"),
        help="where the chDB store and the local log live (default ./data)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from services.embedded import serve_embedded

    return serve_embedded(host=args.host, port=args.port, data_dir=args.data_dir)
