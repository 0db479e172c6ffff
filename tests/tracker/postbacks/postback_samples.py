"""Realistic postbacks: each preset's template filled the way its vendor fills macros.

``render`` takes the template shipped in ``presets.yaml`` (``name=MACRO`` pairs), replaces
each macro the vendor would know, and leaves the others the way that vendor does: Adjust
drops the parameter, the others send it empty. The result goes through a real URL encoding
and ``parse_qsl`` round trip, as the collector would receive it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from tracker.postbacks import Preset

TOKEN = "s3cr3t-token"
DROPS_UNKNOWN = frozenset({"adjust"})  # vendors that omit a parameter they cannot fill


def template_pairs(preset: Preset) -> list[tuple[str, str]]:
    query = urlsplit(preset.template).query
    pairs = []
    for part in query.split("&"):
        name, _, macro = part.partition("=")
        pairs.append((name, macro))
    return pairs


def render(
    preset: Preset, macros: dict[str, str], extra: dict[str, str] | None = None
) -> dict[str, str]:
    filled: list[tuple[str, str]] = []
    for name, macro in template_pairs(preset):
        if macro == "SECRET":
            filled.append((name, TOKEN))
        elif macro in macros:
            filled.append((name, macros[macro]))
        elif preset.name not in DROPS_UNKNOWN:
            filled.append((name, ""))
    filled.extend((extra or {}).items())
    return dict(parse_qsl(urlencode(filled), keep_blank_values=True))


IOS_IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
IOS_IDFV = "3B2C8F4E-1D6A-4F0B-9C7E-2A5D8E1F6B40"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
ANDROID_ID = "9774d56d682e549c"
ZERO_IDFA = "00000000-0000-0000-0000-000000000000"
CLICK_S = 1714557600  # 2024-05-01 10:00:00 UTC
INSTALL_S = 1714557645  # 45 s later
