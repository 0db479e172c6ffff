"""The dashboard router: the page, its security headers, and the static assets it serves."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.dashboard import build_dashboard_router
from services.dashboard.assets import load_page_template, load_static_assets
from services.dashboard.router import render_page

IMPORT = re.compile(
    r"""^\s*(?:import|export)\s[^;]*?from\s+"(\.{1,2}/[^"]+)";?""", re.MULTILINE | re.DOTALL
)
REFERENCE = re.compile(r"""(?:src|href)="\{\{root\}\}/dashboard/static/([^"]+)\"""")


def client(root_path: str = "") -> TestClient:
    app = FastAPI()
    app.include_router(build_dashboard_router())
    return TestClient(app, root_path=root_path)


def test_page_is_html_with_a_strict_content_security_policy() -> None:
    answer = client().get("/dashboard")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/dashboard/static/main.js"></script>' in answer.text
    assert '<meta name="partnerstream-root" content="">' in answer.text
    assert "{{root}}" not in answer.text


def test_page_links_are_under_the_root_path_of_a_proxied_app() -> None:
    answer = client(root_path="/partnerstream").get("/dashboard")
    assert '<meta name="partnerstream-root" content="/partnerstream">' in answer.text
    assert 'src="/partnerstream/dashboard/static/main.js"' in answer.text


def test_root_path_is_escaped_in_the_page() -> None:
    page = render_page('<meta content="{{root}}">', '/x"><script>alert(1)</script>/')
    assert "<script>" not in page
    assert page == '<meta content="/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">'


def test_every_asset_the_page_and_modules_reference_is_served() -> None:
    assets = load_static_assets()
    page = client().get("/dashboard").text
    wanted = set(REFERENCE.findall(load_page_template()))
    for name, asset in assets.items():
        if not name.endswith(".js"):
            continue
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for target in IMPORT.findall(asset.body.decode()):
            parts = (folder + target).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part not in {"", "."}:
                    resolved.append(part)
            wanted.add("/".join(resolved))
    assert {"main.js", "dashboard.css", "favicon.svg", "charts/timeline.js"} <= wanted
    assert wanted <= set(assets), f"referenced but not served: {wanted - set(assets)}"
    assert "main.js" in page


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("main.js", "text/javascript; charset=utf-8"),
        ("charts/bars.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_their_media_type(path: str, media_type: str) -> None:
    answer = client().get(f"/dashboard/static/{path}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.content == load_static_assets()[path].body


@pytest.mark.parametrize(
    "path", ["missing.js", "../router.py", "..%2Frouter.py", "../page.html", "", "charts"]
)
def test_anything_else_under_static_is_not_found(path: str) -> None:
    answer = client().get(f"/dashboard/static/{path}")
    assert answer.status_code == 404


def test_an_unchanged_asset_is_not_sent_again() -> None:
    c = client()
    first = c.get("/dashboard/static/main.js")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = c.get("/dashboard/static/main.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    stale = c.get("/dashboard/static/main.js", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
