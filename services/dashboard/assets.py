"""The dashboard's static files, read once from the package when the router is built.

Only files found under `static/` at build time are ever served: a request names a key of that
table, never a filesystem path, so there is nothing to traverse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # strong validator: a quoted hash of the body


def make_asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _walk(folder: Traversable, prefix: str) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_walk(entry, name + "/"))
        elif entry.is_file():
            found[name] = entry
    return found


def load_static_assets() -> dict[str, Asset]:
    """Every file of a known type under `services/dashboard/static/`, keyed by its relative
    path ("charts/bars.js")."""
    static = files("services.dashboard").joinpath("static")
    assets: dict[str, Asset] = {}
    for name, entry in _walk(static, "").items():
        suffix = name[name.rfind(".") :] if "." in name else ""
        media_type = MEDIA_TYPES.get(suffix)
        if media_type is not None:
            assets[name] = make_asset(entry.read_bytes(), media_type)
    return assets


def load_page_template() -> str:
    return files("services.dashboard").joinpath("page.html").read_text(encoding="utf-8")
