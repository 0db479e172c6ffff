"""The tracking answers (the 1x1 GIF, the click's 302), with their headers rendered once.

Starlette's ``Response`` renders its headers on every construction (content length, media
type, a scan of the header list per ``headers[...] =``); these answers are the same on every
click and pixel but for a location, a cookie or a rejection reason.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import Response

TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
REDIRECT_SAFE = ":/%#?=@[]!$&'()*+,;"  # what Starlette's RedirectResponse leaves unquoted
# ... with the letters, digits and "_.-~" quote() never touches: such a URL is its own quoting
_NEEDS_NO_QUOTING = re.compile(r"[A-Za-z0-9_.\-~:/%#?=@\[\]!$&'()*+,;]*").fullmatch
RawHeaders = list[tuple[bytes, bytes]]


class PreparedResponse(Response):
    """A ``Response`` built from ready raw headers (add more with ``raw_headers.append``)."""

    def __init__(self, body: bytes, status_code: int, raw_headers: RawHeaders) -> None:
        self.body = body
        self.status_code = status_code
        self.raw_headers = raw_headers
        self.background: BackgroundTask | None = None


def _raw(headers: dict[str, str]) -> RawHeaders:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


_GIF_HEADERS = _raw(
    {"Content-Length": str(len(TRANSPARENT_GIF)), "Content-Type": "image/gif", **NO_CACHE}
)
_REDIRECT_HEADERS = _raw(
    {
        "Content-Length": "0",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer-when-downgrade",
    }
)


def gif_response(rejected_reason: str | None = None, status_code: int = 200) -> Response:
    """The 1x1 transparent GIF, never cached; ``X-Partnerstream-Rejected`` names why an
    event was refused."""
    headers = list(_GIF_HEADERS)
    if rejected_reason:
        headers.append((b"x-partnerstream-rejected", rejected_reason.encode("latin-1")))
    return PreparedResponse(TRANSPARENT_GIF, status_code, headers)


def redirect_response(location: str) -> Response:
    """302 to ``location``, never cached, the referrer kept for the landing page."""
    headers = list(_REDIRECT_HEADERS)
    quoted = location if _NEEDS_NO_QUOTING(location) else quote(location, safe=REDIRECT_SAFE)
    headers.append((b"location", quoted.encode("latin-1")))
    return PreparedResponse(b"", 302, headers)


_JSON_HEADERS = _raw({"Content-Type": "application/json"})


def json_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """200 with a JSON ``body`` already encoded (what ``Response(body, media_type=...)``
    sends, without rendering the headers per call)."""
    raw = [(b"content-length", str(len(body)).encode("latin-1")), *_JSON_HEADERS]
    if headers:
        raw.extend(_raw(headers))
    return PreparedResponse(body, 200, raw)
