"""tracker.canonical: the fast path gives the pydantic path's bytes, or declines.

The reference is today's path: `validate_item` (pydantic), `enrich` (model_copy), then
`encode_event` (`model_dump_json(exclude_none=True)`). For any item, the fast path either
declines (None from `check_item`) or yields the same key, value, event id and error.
"""

from __future__ import annotations

import itertools
import string
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import EVENT_TYPES, DeviceIdType, PartnerType, Source
from services.collector.publisher import encode_event
from tracker.canonical import RequestCanon, check_item, encode_item
from tracker.click_ids import SecretRing, mint_click_id
from tracker.consent import NO_SIGNALS, Consent
from tracker.enrich import EnrichConfig, RequestInfo, enrich, ms_to_datetime
from tracker.errors import InvalidEvent, TrackerError
from tracker.network import IpMode
from tracker.sdk_batches import describe, validate_item

NOW_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z
DAY_MS = 86_400_000
RING = SecretRing.of([(3, b"s" * 32), (1, b"o" * 32)])
OTHER_RING = SecretRing.of([(3, b"x" * 32)])
PARTNERS = {"coupon-hub": "affiliate", "insta-anna": "influencer", "net-1": "mobile_network"}
VISITOR = uuid.UUID("0b6f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c4")
NONCE = bytes(range(8))
GOOD_CLICK_ID = mint_click_id(RING, VISITOR, NOW_MS - 60_000, NONCE)
OLD_CLICK_ID = mint_click_id(RING, VISITOR, NOW_MS - 40 * DAY_MS, NONCE)
FORGED_CLICK_ID = mint_click_id(OTHER_RING, VISITOR, NOW_MS - 60_000, NONCE)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HUMAN_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"

Result = tuple[object, ...]


def config(ip_mode: IpMode = IpMode.TRUNCATE) -> EnrichConfig:
    return EnrichConfig(RING, 30 * DAY_MS, ip_mode, PARTNERS)


def counter() -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"server-id-{next(numbers):04d}"


def slow_path(item: Any, info: RequestInfo, cfg: EnrichConfig) -> Result:
    """Today's path, as `Intake` runs it for one item."""
    new_id = counter()
    try:
        event = validate_item(item, max_event_bytes=1 << 20, check_size=False)
        try:
            enriched = enrich(event, info, cfg, "" if event.event_id else new_id())
        except ValidationError as exc:
            raise InvalidEvent(describe(exc)) from exc
    except TrackerError as exc:
        return ("error", type(exc), exc.reason, exc.message)
    key, value = encode_event(enriched)
    source = enriched.context.source
    kind = enriched.type  # type: ignore[attr-defined]
    return ("ok", key, value, enriched.event_id, kind, source.value if source else "unknown")


def fast_path(item: Any, info: RequestInfo, cfg: EnrichConfig) -> Result | None:
    """The fast path, as `Intake` runs it; None when it declines the item."""
    values = check_item(item)
    if values is None:
        return None
    new_id = counter()
    try:
        try:
            encoded = encode_item(
                values, RequestCanon(info, cfg), "" if values.get("event_id") else new_id()
            )
        except ValidationError as exc:
            raise InvalidEvent(describe(exc)) from exc
    except TrackerError as exc:
        return ("error", type(exc), exc.reason, exc.message)
    return ("ok", *encoded.record, encoded.event_id, encoded.type, encoded.source)


# --- strategies: the schema's field space, valid values and the edges around them ---------

WHITESPACE = (  # Python's and Rust's whitespace, and a few characters that are not
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u180e\u2000\u200a\u200b\u2028\u2029"
    "\u202f\u205f\u3000\ufeff"
)
ASCII_VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))
EVENT_ID_CHARS = string.ascii_letters + string.digits + "_.:-"


def padded(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pad = st.one_of(st.just(" "), st.text(alphabet=WHITESPACE, min_size=1, max_size=2))
    return st.one_of(
        st.tuples(pad, inner).map("".join),
        st.tuples(inner, pad).map("".join),
        st.tuples(pad, inner, pad).map("".join),
    )


def junk() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )


def identifiers() -> st.SearchStrategy[str]:
    return st.text(alphabet=ASCII_VISIBLE, min_size=1, max_size=12)


def identifier_values() -> st.SearchStrategy[object]:
    return st.one_of(
        identifiers(),
        st.sampled_from(["x" * 128, "x" * 129, "", "a b", "é", "x\x7f", "x\x00", "\u00a0"]),
        st.sampled_from([" a", "a ", " ", "  ", "a  b", "\ta", "a\n", "\x85a"]),
        st.sampled_from(list(PARTNERS)),
        padded(identifiers()),
        st.text(max_size=8),
        junk(),
    )


def event_id_values() -> st.SearchStrategy[object]:
    return st.one_of(
        st.text(alphabet=EVENT_ID_CHARS, min_size=8, max_size=64),
        st.sampled_from(["a" * 7, "a" * 64, "a" * 65, "abcdefg!", "ABCDEFGH", str(VISITOR)]),
        padded(st.text(alphabet=EVENT_ID_CHARS, min_size=8, max_size=10)),
        junk(),
    )


def text_values(max_length: int) -> st.SearchStrategy[object]:
    return st.one_of(
        st.text(max_size=12),
        st.text(alphabet=WHITESPACE + "ab", max_size=4),
        st.sampled_from(["", "x" * max_length, "x" * (max_length + 1), "\U0001f600" * 3]),
        st.sampled_from(["y" * (max_length - 1) + " ", " " + "y" * max_length]),
        padded(st.text(max_size=5)),
        junk(),
    )


def iso_timestamps() -> st.SearchStrategy[str]:
    """ISO-8601 texts, mostly valid, with each part sometimes just over its limit."""
    part = st.sampled_from
    year = st.one_of(st.integers(2000, 2099).map(str), part(["1999", "0000", "9999", "2000"]))
    month = st.one_of(st.integers(1, 12).map("{:02d}".format), part(["00", "13", "1", "02"]))
    day = st.one_of(st.integers(1, 28).map("{:02d}".format), part(["29", "30", "31", "00", "32"]))
    hour = st.one_of(st.integers(0, 23).map("{:02d}".format), part(["24", "7"]))
    minute = st.one_of(st.integers(0, 59).map("{:02d}".format), part(["60"]))
    second = st.one_of(st.integers(0, 59).map("{:02d}".format), part(["60", "5"]))
    date = st.tuples(year, month, day).map("-".join)
    time = st.tuples(hour, minute, second).map(":".join)
    fraction = st.text(alphabet="0123456789", min_size=0, max_size=9)
    fraction = st.one_of(fraction, part(["000000", "000", "0", "5", "999999", "000001"]))
    fraction = fraction.map(lambda digits: "." + digits if digits else "")
    fraction = st.one_of(fraction, part([",5", "."]))
    zone = st.one_of(
        part(["Z", "Z", "Z", "", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59", "-23:59"]),
        part(["+24:00", "+00:60", "+23:60", "z", "+01", "+0100", " Z", "UTC", "+01:00:00"]),
    )
    sep = part(["T", "T", "T", "T", "t", " ", "_"])
    return st.tuples(date, sep, time, fraction, zone).map("".join)


def timestamp_values() -> st.SearchStrategy[object]:
    edge_ms = [946_684_800_000, 946_684_799_999, 0, -1, NOW_MS, 253_402_300_799_999, 2**62]
    return st.one_of(
        iso_timestamps(),
        st.integers(946_684_800_000, 4_102_444_800_000),
        st.sampled_from(edge_ms),
        st.floats(9.4e11, 4.1e12),
        st.sampled_from([True, False, "2026-11-23", "now", " 2026-11-23T10:00:00Z"]),
        padded(iso_timestamps()),
        junk(),
    )


def click_id_values() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from([GOOD_CLICK_ID, OLD_CLICK_ID, FORGED_CLICK_ID, "", "forged"]),
        st.sampled_from([GOOD_CLICK_ID[:-1] + "A", " " + GOOD_CLICK_ID, "x" * 257]),
        text_values(256),
    )


def enum_values(values: list[str]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(values),
        st.sampled_from(values).map(str.upper),
        padded(st.sampled_from(values)),
        junk(),
    )


def int_values(low: int, high: int) -> st.SearchStrategy[object]:
    return st.one_of(
        st.integers(low, high),
        st.sampled_from([low - 1, high + 1, low, high, 0]),
        st.floats(allow_nan=False),
        st.sampled_from([1.0, 2.5, "100", True]),
        junk(),
    )


def consent_values() -> st.SearchStrategy[object]:
    fields = {
        "gdpr": st.one_of(st.none(), st.booleans(), st.sampled_from([1, "true"])),
        "gdpr_consent": st.one_of(st.none(), text_values(4096), st.just("C" * 4097)),
        "gpc": st.one_of(st.booleans(), st.sampled_from([None, 1, "1"])),
        "other": junk(),
    }
    return st.one_of(st.fixed_dictionaries({}, optional=fields), junk())


def context_values() -> st.SearchStrategy[object]:
    fields = {
        "source": enum_values([s.value for s in Source]),
        "ip": st.one_of(st.sampled_from(["203.0.113.9", "2001:db8::1", "nope"]), junk()),
        "user_agent": st.one_of(st.sampled_from([BOT_UA, HUMAN_UA, " x "]), text_values(1024)),
        "referrer": text_values(2048),
        "page_url": st.one_of(st.just("https://shop.example/p?q=1"), text_values(2048)),
        "is_bot": st.one_of(st.booleans(), junk()),
        "bot_name": st.one_of(st.text(max_size=5), junk()),
        "fraud_flags": st.one_of(
            st.lists(st.sampled_from(["ctit_short", "dc_ip", ""]), max_size=2),
            st.lists(junk(), max_size=2),
            st.tuples(st.just("flag")),
            junk(),
        ),
        "consent": consent_values(),
        "extra": junk(),
    }
    return st.one_of(st.fixed_dictionaries({}, optional=fields), junk())


FIELDS: dict[str, st.SearchStrategy[object]] = {
    "schema_version": st.one_of(st.sampled_from([1, 1, 2, 0, 1.0, True, "1"]), junk()),
    "event_id": event_id_values(),
    "ts": timestamp_values(),
    "received_at": timestamp_values(),
    "advertiser_id": identifier_values(),
    "partner_id": identifier_values(),
    "partner_type": enum_values([t.value for t in PartnerType]),
    "campaign_id": identifier_values(),
    "click_id": click_id_values(),
    "click_event_id": event_id_values(),
    "visitor_id": identifier_values(),
    "device_id": identifier_values(),
    "device_id_type": enum_values([t.value for t in DeviceIdType]),
    "customer_id": identifier_values(),
    "sub1": text_values(255),
    "sub2": text_values(255),
    "sub3": text_values(255),
    "sub4": text_values(255),
    "sub5": text_values(255),
    "context": context_values(),
    "landing_url": text_values(4096),
    "app_id": identifier_values(),
    "click_ts": timestamp_values(),
    "ctit_seconds": st.one_of(
        st.floats(min_value=-1.0, allow_nan=False, allow_infinity=False),
        st.integers(-1, 2**60),
        junk(),
    ),
    "transaction_id": identifier_values(),
    "source_identifier": identifier_values(),
    "conversion_value": int_values(0, 63),
    "coarse_conversion_value": enum_values(["low", "medium", "high"]),
    "event_name": st.one_of(
        st.sampled_from(["purchase", "sign_up", "a:b.c-d", "Purchase", "x" * 65, ""]),
        st.text(alphabet="abcxyz019_.:-", min_size=1, max_size=64),
        padded(st.just("purchase")),
        junk(),
    ),
    "order_id": identifier_values(),
    "revenue": int_values(0, 10**15),
    "currency": enum_values(["EUR", "USD", "JPY", "eur", "EURO"]),
    "install_id": event_id_values(),
    "amount": int_values(0, 10**15),
    "reason": enum_values(["returned", "other", "fraud"]),
    "unknown_field": junk(),
}
TYPES = ["impression", "click", "install", "conversion", "reversal", "Click", "pageview"]


REQUIRED = {
    "impression": ("partner_id", "campaign_id"),
    "click": ("partner_id", "campaign_id"),
    "install": ("app_id",),
    "conversion": ("event_name",),
}
PLAIN: dict[str, st.SearchStrategy[object]] = {
    "schema_version": st.just(1),
    "event_id": st.text(alphabet=EVENT_ID_CHARS, min_size=8, max_size=40),
    "ts": st.one_of(
        st.integers(946_684_800_000, 4_102_444_800_000),
        st.datetimes(
            min_value=ms_to_datetime(946_684_800_000).replace(tzinfo=None),
            max_value=ms_to_datetime(4_102_444_800_000).replace(tzinfo=None),
        ).map(lambda moment: moment.isoformat(timespec="milliseconds") + "Z"),
        st.sampled_from(["2026-11-23T10:45:49.588000Z", "2026-11-23T10:45:49Z"]),
    ),
    "partner_id": st.one_of(st.sampled_from(list(PARTNERS)), identifiers()),
    "campaign_id": identifiers(),
    "click_id": st.sampled_from([GOOD_CLICK_ID, OLD_CLICK_ID, FORGED_CLICK_ID]),
    "visitor_id": st.uuids().map(str),
    "device_id": identifiers(),
    "customer_id": identifiers(),
    "sub1": st.text(max_size=20).filter(lambda text: text == text.strip()),
    "context": st.fixed_dictionaries(
        {},
        optional={
            "user_agent": st.sampled_from([BOT_UA, HUMAN_UA]),
            "referrer": st.just("https://blog.example/post"),
            "consent": st.fixed_dictionaries({"gdpr": st.booleans(), "gpc": st.booleans()}),
        },
    ),
    "event_name": st.sampled_from(["purchase", "sign_up", "add_to_cart"]),
    "order_id": identifiers(),
    "revenue": st.integers(0, 10**15),
    "currency": st.sampled_from(["EUR", "USD"]),
    "app_id": identifiers(),
    "ctit_seconds": st.floats(min_value=0.0, max_value=1e9),
    "landing_url": st.just("https://shop.example/summer?utm_source=x"),
}
PLAIN_FIELDS = {
    "impression": ("partner_id", "campaign_id", "click_id", "visitor_id", "sub1", "context"),
    "click": ("partner_id", "campaign_id", "visitor_id", "landing_url", "sub1", "context"),
    "install": ("app_id", "device_id", "click_id", "ctit_seconds", "partner_id", "context"),
    "conversion": (
        "event_name",
        "order_id",
        "revenue",
        "currency",
        "click_id",
        "customer_id",
        "visitor_id",
        "partner_id",
    ),
}


@st.composite
def plain_items(draw: st.DrawFn) -> dict[str, object]:
    """Items in the shape SDKs send: valid, exact types, nothing unusual."""
    kind = draw(st.sampled_from(list(REQUIRED)))
    item: dict[str, object] = {"type": kind, "ts": draw(PLAIN["ts"])}
    for name in ("schema_version", "event_id", *PLAIN_FIELDS[kind]):
        if name in REQUIRED[kind] or draw(st.booleans()):
            item[name] = draw(PLAIN[name])
    return item


@st.composite
def raw_items(draw: st.DrawFn) -> object:
    """Any item: a plain one with up to four fields set to any value of the field space
    (edge cases, wrong types, unknown fields, other event types), or not an object."""
    if draw(st.integers(0, 30)) == 0:
        return draw(junk())
    item = draw(plain_items())
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4)):
        item[name] = draw(FIELDS[name])
    if draw(st.integers(0, 10)) == 0:
        item["type"] = draw(st.one_of(st.sampled_from(TYPES), junk()))
    if draw(st.integers(0, 20)) == 0:
        del item["type"]
    return item


@st.composite
def request_infos(draw: st.DrawFn) -> RequestInfo:
    consent = draw(
        st.sampled_from(
            [
                NO_SIGNALS,
                Consent(gdpr_applies=True),
                Consent(
                    gdpr_applies=True, tcf_string="CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
                ),
                Consent(gpc=True),
            ]
        )
    )
    return RequestInfo(
        received_at_ms=draw(st.sampled_from([NOW_MS, NOW_MS + 123, NOW_MS - 50 * DAY_MS])),
        source=draw(st.sampled_from(list(Source))),
        ip=draw(st.sampled_from([None, "203.0.113.77", "2001:db8:abcd:12::1", "garbage"])),
        user_agent=draw(st.sampled_from([None, "", HUMAN_UA, BOT_UA, "x" * 1500])),
        referrer=draw(st.sampled_from([None, "", "https://blog.example/", "r" * 2049])),
        page_url=draw(st.sampled_from([None, "https://shop.example/cart"])),
        consent=consent,
        advertiser_id=draw(st.sampled_from([None, "acme-shop"])),
    )


def assert_same(item: object, info: RequestInfo, cfg: EnrichConfig, *, must_take: bool) -> None:
    fast = fast_path(item, info, cfg)
    if fast is None:
        assert not must_take, f"the fast path declined a plain item: {item!r}"
        return
    assert fast == slow_path(item, info, cfg)


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(item=raw_items(), info=request_infos(), ip_mode=st.sampled_from(list(IpMode)))
@example(
    item={"type": "click", "ts": 1.5e12, "partner_id": "p", "campaign_id": "c"},
    info=RequestInfo(NOW_MS, Source.SDK),
    ip_mode=IpMode.TRUNCATE,
)
def test_any_item_is_declined_or_gives_the_pydantic_bytes(
    item: object, info: RequestInfo, ip_mode: IpMode
) -> None:
    assert_same(item, info, config(ip_mode), must_take=False)


@SETTINGS
@given(item=plain_items(), info=request_infos(), ip_mode=st.sampled_from(list(IpMode)))
def test_plain_items_take_the_fast_path_with_the_pydantic_bytes(
    item: dict[str, object], info: RequestInfo, ip_mode: IpMode
) -> None:
    assert_same(item, info, config(ip_mode), must_take=True)


@SETTINGS
@given(item=plain_items(), name=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_plain_items_with_one_field_changed_are_declined_or_match(
    item: dict[str, object], name: str, data: st.DataObject
) -> None:
    """One field of a good item swapped for any value of the field space (edge cases)."""
    assume(name != "type")
    item[name] = data.draw(FIELDS[name])
    assert_same(
        item, RequestInfo(NOW_MS, Source.SDK, user_agent=HUMAN_UA), config(), must_take=False
    )


INFO = RequestInfo(
    NOW_MS, Source.SDK, ip="203.0.113.77", user_agent=HUMAN_UA, advertiser_id="acme-shop"
)
CLICK = {
    "type": "click",
    "ts": "2026-11-23T09:00:00Z",
    "partner_id": "coupon-hub",
    "campaign_id": "c",
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"partner_id": " coupon-hub"}, "pydantic strips it"),
        ({"sub1": "x\u00a0"}, "pydantic strips it"),
        ({"campaign_id": "caf\u00e9"}, "non-ASCII identifier"),
        ({"landing_url": None, "foo": 1}, "unknown field"),
        ({"ts": "2026-11-23T09:00:00.1234567Z"}, "more than microseconds"),
        ({"ts": "2026-11-23 09:00:00Z"}, "not the strict ISO form"),
        ({"ts": True}, "a boolean timestamp"),
        ({"ts": "1999-12-31T23:59:59Z"}, "before 2000: an error"),
        ({"ts": None}, "a required field is null"),
        ({"schema_version": 1.0}, "coerced by pydantic"),
        ({"partner_type": "Affiliate"}, "not an enum value"),
        ({"context": {"is_bot": 1}}, "coerced by pydantic"),
        ({"context": {"fraud_flags": "x"}}, "not a list"),
        ({"context": None}, "context is not optional"),
        ({"type": "reversal", "order_id": "o-1"}, "reversals keep the pydantic path"),
    ],
)
def test_items_outside_the_plain_shape_are_declined(change: dict[str, object], why: str) -> None:
    assert check_item({**CLICK, **change}) is None, why


def test_a_browser_sdk_conversion_is_encoded_as_the_pydantic_path_does() -> None:
    item = {
        "type": "conversion",
        "event_name": "purchase",
        "ts": 1_795_427_999_123,
        "event_id": str(VISITOR),
        "click_id": GOOD_CLICK_ID,
        "order_id": "A-1001",
        "revenue": 4990,
        "currency": "EUR",
    }
    fast = fast_path(item, INFO, config())
    assert fast is not None
    assert fast == slow_path(item, INFO, config())
    assert fast[1] == b"v:" + str(VISITOR).encode()  # keyed by the click's visitor


def test_a_forged_click_id_is_the_same_error_on_both_paths() -> None:
    item = {**CLICK, "type": "impression", "click_id": FORGED_CLICK_ID}
    fast = fast_path(item, INFO, config())
    assert fast is not None
    assert (fast[0], fast[2]) == ("error", "click_id_tampered")
    assert fast == slow_path(item, INFO, config())


def _text_edges(max_length: int) -> list[object]:
    return [
        "", "x", "x" * max_length, "x" * (max_length + 1), "é" * max_length, " x", "x ",
        "x\u00a0", "\u2003x", "x\n", "\x1cx", "x\x85", "\u200bx", "x\ufeff", "\u180ex", None, 1,
    ]  # fmt: skip


IDENTIFIER_EDGES: list[object] = [
    "a", "x" * 128, "x" * 129, "", " a", "a ", "a b", "é", "x\x7f", "x\x00", "\u00a0", "\ta",
    "!~", "coupon-hub", "insta-anna", None, 1, True, ["a"],
]  # fmt: skip
EVENT_ID_EDGES: list[object] = [
    "a" * 8, "a" * 7, "a" * 64, "a" * 65, " aaaaaaaa", "aaaaaaaa ", "abcdefg!", str(VISITOR),
    "a:b.c-d_e", None, 12345678,
]  # fmt: skip
TIMESTAMP_EDGES: list[object] = [
    "2026-11-23T09:00:00Z", "2026-11-23T09:00:00.5Z", "2026-11-23T09:00:00.000000Z",
    "2026-11-23T09:00:00.000Z", "2026-11-23T09:00:00.000001Z", "2026-11-23T09:00:00.1234567Z",
    "2000-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "2000-01-01T00:30:00+01:00",
    "2000-01-01T00:30:00-01:00", "2026-11-23T09:00:00", "2026-11-23T09:00:00+00:00",
    "2026-11-23T09:00:00-00:00", "2026-11-23T09:00:00+23:59", "2026-11-23T09:00:00+24:00",
    "2026-11-23T09:00:00+00:60", "2026-11-23T09:00:00+0100", "2026-11-23T09:00:00+01",
    "2026-02-29T09:00:00Z", "2028-02-29T09:00:00Z", "2026-11-23T24:00:00Z",
    "2026-11-23T09:60:00Z", "2026-11-23T09:00:60Z", "2026-11-23t09:00:00Z",
    "2026-11-23T09:00:00z", "2026-11-23 09:00:00Z", "2026-W47-1T09:00:00Z", "2026-11-23",
    "9999-12-31T23:59:59-23:59", " 2026-11-23T09:00:00Z", "\u0662026-11-23T09:00:00Z",
    946_684_800_000, 946_684_799_999, 4_102_444_799_999, 4_102_444_800_000, NOW_MS, 0, -1,
    2**62, 946_684_800_000.0, 1_795_427_999_123.5, 1e300, True, None, [1],
]  # fmt: skip
CONTEXT_EDGES: list[object] = [
    {}, {"user_agent": BOT_UA}, {"user_agent": "x" * 1024}, {"user_agent": "x" * 1025},
    {"user_agent": " x "}, {"user_agent": None}, {"referrer": "r" * 2048},
    {"referrer": "r" * 2049}, {"page_url": ""}, {"page_url": 1}, {"is_bot": True},
    {"is_bot": 1}, {"is_bot": None}, {"bot_name": None}, {"bot_name": 1},
    {"fraud_flags": ["a"]}, {"fraud_flags": ("a", "b")}, {"fraud_flags": "a"},
    {"fraud_flags": [1]}, {"fraud_flags": None}, {"consent": {"gpc": True, "gdpr": False}},
    {"consent": {"gdpr_consent": "C" * 4096}}, {"consent": {"gdpr_consent": "C" * 4097}},
    {"consent": {"gpc": 1}}, {"consent": {"gpc": "yes"}}, {"consent": {"gdpr": 0}},
    {"consent": {"gpc": None}}, {"consent": None}, {"consent": {"x": 1}},
    {"source": "sdk"}, {"source": "SDK"}, {"source": None}, {"ip": "1.2.3.4"},
    {"ip": 1}, {"extra": 1}, None, [], "x",
]  # fmt: skip
BOUNDARIES: dict[str, list[object]] = {
    "schema_version": [1, 2, 0, 1.0, True, "1", None],
    "event_id": EVENT_ID_EDGES,
    "ts": TIMESTAMP_EDGES,
    "received_at": TIMESTAMP_EDGES,
    "advertiser_id": IDENTIFIER_EDGES,
    "partner_id": IDENTIFIER_EDGES,
    "partner_type": ["affiliate", "b2b", "Affiliate", " b2b", "", None, 1],
    "campaign_id": IDENTIFIER_EDGES,
    "click_id": [GOOD_CLICK_ID, OLD_CLICK_ID, FORGED_CLICK_ID, *_text_edges(256)],
    "click_event_id": EVENT_ID_EDGES,
    "visitor_id": IDENTIFIER_EDGES,
    "device_id": IDENTIFIER_EDGES,
    "device_id_type": ["idfa", "gaid", "IDFA", " idfa", "", None, 1],
    "customer_id": IDENTIFIER_EDGES,
    **{f"sub{n}": _text_edges(255) for n in range(1, 6)},
    "landing_url": _text_edges(4096),
    "context": CONTEXT_EDGES,
    "app_id": IDENTIFIER_EDGES,
    "click_ts": TIMESTAMP_EDGES,
    "ctit_seconds": [
        0.0,
        -0.0,
        5,
        -1,
        1.5,
        -1.5,
        -1e-300,
        2**53,
        2**53 + 1,
        1e308,
        None,
        True,
        "1",
    ],
    "transaction_id": IDENTIFIER_EDGES,
    "source_identifier": IDENTIFIER_EDGES,
    "conversion_value": [0, 63, -1, 64, 1.0, True, "1", None],
    "coarse_conversion_value": ["low", "high", "LOW", " low", "", None, 1],
    "event_name": ["purchase", "a" * 64, "a" * 65, "", "Purchase", " purchase", "a b", None],
    "order_id": IDENTIFIER_EDGES,
    "revenue": [0, 10**15, -1, 10**15 + 1, 1.0, 12.5, True, "100", None],
    "currency": ["EUR", "eur", "EURO", "EU", " EUR", "", None],
    "install_id": EVENT_ID_EDGES,
    "apple": [{"ad_network_id": "x.skadnetwork", "conversion_type": "download"}, {}, 1, None],
    "unknown_field": [1, None],
}
BASE_ITEMS: list[dict[str, object]] = [
    {"type": "impression", "ts": 1_795_427_000_000, "partner_id": "insta-anna", "campaign_id": "c"},
    {"type": "click", "ts": "2026-11-23T09:00:00.250Z", "partner_id": "coupon-hub",
     "campaign_id": "summer", "visitor_id": str(VISITOR)},
    {"type": "install", "ts": "2026-11-23T09:00:00Z", "app_id": "com.acme.app",
     "partner_id": "net-1", "device_id": "dev-1"},
    {"type": "conversion", "ts": NOW_MS - 1000, "event_name": "purchase", "revenue": 4990,
     "currency": "EUR", "customer_id": "cust-1"},
]  # fmt: skip
BOUNDARY_INFOS = [
    INFO,
    RequestInfo(NOW_MS + 7, Source.SDK, consent=Consent(gpc=True), referrer="https://a.example/"),
]


@pytest.mark.parametrize("name", sorted(BOUNDARIES))
def test_every_boundary_value_of_every_field_is_declined_or_gives_the_pydantic_bytes(
    name: str,
) -> None:
    taken = 0
    for base, info, value in itertools.product(BASE_ITEMS, BOUNDARY_INFOS, BOUNDARIES[name]):
        item = {**base, name: value}
        assert_same(item, info, config(), must_take=False)
        taken += check_item(item) is not None
    if name == "unknown_field":
        assert taken == 0  # extra="forbid": pydantic's to refuse
    else:
        assert taken > 0  # the table is not all declines


def test_the_boundary_table_covers_every_field_of_the_models() -> None:
    for kind, model in EVENT_TYPES.items():
        if kind != "reversal":
            assert set(model.model_fields) <= set(BOUNDARIES) | {"type"}


def test_str_subclass_identifiers_give_the_pydantic_bytes() -> None:
    class Partner(StrEnum):
        HUB = "coupon-hub"

    item = {**CLICK, "partner_id": Partner.HUB}
    assert check_item(item) is not None
    assert_same(item, INFO, config(), must_take=True)
