"""tracker.consent: gdpr / gdpr_consent / Sec-GPC signals."""

from __future__ import annotations

import pytest

from tracker.consent import MAX_TCF_CHARS, Consent, parse_consent

TCF = (
    "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA.IGLtV_T9fb2vj-_Z99_tkeYwf95y3p-wzhh"
    "eMs-8NyZeH_B4Wv2MyvBX4JiQKGRgksjLBAQdtHGlcTQgBwIlViTLMYk2MjzNKJrJEilsbO2dYGD9Pn8"
    "HT3ZCY70-vv__7v3ff_3g"
)


@pytest.mark.parametrize(
    ("gdpr", "gdpr_consent", "sec_gpc", "expected"),
    [
        (None, None, None, Consent()),
        ("1", TCF, None, Consent(gdpr_applies=True, tcf_string=TCF)),
        ("0", None, None, Consent(gdpr_applies=False)),
        (" 1 ", None, None, Consent(gdpr_applies=True)),
        ("{gdpr}", None, None, Consent()),
        ("true", None, None, Consent()),
        ("2", None, None, Consent()),
        (None, None, "1", Consent(gpc=True)),
        (None, None, " 1", Consent(gpc=True)),
        (None, None, "0", Consent()),
        (None, None, "true", Consent()),
        ("1", "${GDPR_CONSENT_123}", None, Consent(gdpr_applies=True, tcf_string_dropped=True)),
        ("1", "abc def", None, Consent(gdpr_applies=True, tcf_string_dropped=True)),
        ("1", "A" * (MAX_TCF_CHARS + 1), None, Consent(gdpr_applies=True, tcf_string_dropped=True)),
        (
            "1",
            "A" * MAX_TCF_CHARS,
            None,
            Consent(gdpr_applies=True, tcf_string="A" * MAX_TCF_CHARS),
        ),
        ("1", "", None, Consent(gdpr_applies=True)),
    ],
)
def test_parse_consent(
    gdpr: str | None, gdpr_consent: str | None, sec_gpc: str | None, expected: Consent
) -> None:
    assert parse_consent(gdpr, gdpr_consent, sec_gpc) == expected


def test_consent_string_is_carried_verbatim() -> None:
    consent = parse_consent("1", TCF, None)
    assert consent.tcf_string is TCF


@pytest.mark.parametrize(
    ("consent", "minimise"),
    [
        (Consent(), False),
        (Consent(gpc=True), True),
        (Consent(gdpr_applies=True), True),
        (Consent(gdpr_applies=True, tcf_string=TCF), False),
        (Consent(gdpr_applies=False), False),
        (Consent(gdpr_applies=True, tcf_string=TCF, gpc=True), True),
    ],
)
def test_requires_minimisation(consent: Consent, minimise: bool) -> None:
    assert consent.requires_minimisation is minimise


def test_consent_is_frozen() -> None:
    consent = Consent()
    with pytest.raises(AttributeError):
        consent.gpc = True  # type: ignore[misc]
