"""Apple postbacks through HTTP: SKAdNetwork (Apple's documented vectors and locally signed
4.0 sequences) and AdAttributionKit (the development-key sample, sandbox on and off)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from schemas.events import parse_event
from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import build_deps, create_app
from services.collector.http_errors import install_error_handlers
from services.collector.metrics import CollectorMetrics
from services.collector.routes import apple
from services.settings import CollectorSettings
from tests.services.collector.conftest import REPO, keys, sent
from tests.tracker.apple.apple_vectors import AAK_DIR, SKAN_DIR, TestSigner, data_files
from tracker.apple.skan import SEPARATOR
from tracker.mobile import postback_event_id
from tracker.registry import Registry, parse_registry

SKAN = "/.well-known/skadnetwork/report-attribution/"
AAK = "/.well-known/appattribution/report-attribution/"
AAK_SAMPLE = AAK_DIR / "aak-dev-identifier-1-apple-doc.json"
VALID_4_0 = SKAN_DIR / "valid" / "skan-4.0-webad-tier-low-coarse-apple-doc.json"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The example registry, plus the apps of Apple's samples as rocket-app's."""
    data = yaml.safe_load((REPO / "deploy" / "registry.example.yaml").read_text())
    for cid, app_id in (
        ("rocket-skan-sample", "id525463029"),
        ("rocket-aak-sample", "id10738027756"),
    ):
        data["campaigns"][cid] = {
            "advertiser_id": "rocket-app",
            "app_id": app_id,
            "landing_url": "https://rocket.example.net/get/ios",
        }
    # the ad network of Apple's 2.x/3.0 samples belongs to mobidream; the others to no one
    data["partners"]["mobidream"]["skan_ad_network_ids"] = ["example123.skadnetwork"]
    return parse_registry(data)


def post_file(client: TestClient, path: str, file: Path) -> Any:
    return client.post(
        path, content=file.read_bytes(), headers={"content-type": "application/json"}
    )


# --- SKAdNetwork: Apple's vectors --------------------------------------------------------------


@pytest.mark.parametrize("file", data_files(SKAN_DIR / "valid"))
def test_every_valid_skan_file_is_an_install(
    client: TestClient, producer: MemoryProducer, file: Path
) -> None:
    body = json.loads(file.read_text())
    r = post_file(client, SKAN, file)
    assert r.status_code == 200, r.text
    [install] = sent(producer)
    assert install["event_id"] == r.json()["event_id"]
    assert (install["type"], install["advertiser_id"], install["app_id"]) == (
        "install",
        "rocket-app",
        "id525463029",
    )
    assert install["context"]["source"] == "skan"
    assert install["transaction_id"] == body["transaction-id"]
    assert install["source_identifier"] == str(
        body.get("source-identifier", body.get("campaign-id"))
    )
    assert install["apple"]["ad_network_id"] == install["sub1"] == body["ad-network-id"]
    assert install["apple"]["conversion_type"] == (
        "redownload" if body["redownload"] else "download"
    )
    assert install["apple"].get("did_win") == body.get("did-win")
    assert install["apple"].get("source_app_id") == body.get("source-app-id")
    assert parse_event(orjson.dumps(install)).apple is not None  # the stored form re-parses
    owned = body["ad-network-id"] == "example123.skadnetwork"
    assert install.get("partner_id") == ("mobidream" if owned else None)
    assert install.get("partner_type") == ("mobile_network" if owned else None)
    assert install.get("conversion_value") == body.get("conversion-value")
    assert sent(producer, "events.dlq.v1") == []


@pytest.mark.parametrize("file", data_files(SKAN_DIR / "invalid"))
def test_every_invalid_skan_file_is_400_and_dead_lettered(
    client: TestClient, producer: MemoryProducer, file: Path
) -> None:
    r = post_file(client, SKAN, file)
    assert (r.status_code, r.json()["error"]) == (400, "skan_signature_invalid")
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["reason"], letter["endpoint"], letter["source"]) == (
        "skan_signature_invalid",
        SKAN,
        "skan",
    )
    assert json.loads(letter["raw"]) == json.loads(file.read_text())


def test_skan_4_0_with_coarse_value(client: TestClient, producer: MemoryProducer) -> None:
    r = post_file(client, SKAN, VALID_4_0)
    assert r.status_code == 200
    [install] = sent(producer)
    assert install["coarse_conversion_value"] == "high"
    assert "conversion_value" not in install  # 4.0 at a low crowd-anonymity tier: coarse only
    assert (
        install["source_identifier"],
        install["sub2"],
        install["sub3"],
        install["sub4"],
        install["sub5"],
    ) == ("39", "0", "true", "example.com", "download")
    assert install["apple"] == {
        "ad_network_id": "com.example",
        "postback_sequence_index": 0,
        "did_win": True,
        "source_domain": "example.com",
        "conversion_type": "download",
        "interaction_type": "click",
    }
    assert install["event_id"] == postback_event_id(
        "skan", "rocket-app", "6aafb7a5-0170-41b5-bbe4-fe71dedf1e31:0"
    )


def test_a_duplicate_skan_postback_has_the_same_event_id(client: TestClient) -> None:
    first = post_file(client, SKAN, VALID_4_0)
    again = post_file(client, SKAN, VALID_4_0)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["event_id"] == again.json()["event_id"]


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        (b"{not json", 400, "skan_postback_malformed"),
        (json.dumps({"version": "5.0"}).encode(), 400, "skan_version_unsupported"),
        (b"x" * 20_000, 413, "payload_too_large"),
    ],
)
def test_bad_skan_bodies_are_dead_lettered(
    client: TestClient, producer: MemoryProducer, content: bytes, status: int, reason: str
) -> None:
    r = client.post(SKAN, content=content, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (status, reason)
    assert [x["reason"] for x in sent(producer, "events.dlq.v1")] == [reason]
    assert sent(producer) == []


def test_skan_postback_of_an_app_no_campaign_names_is_404(
    settings: CollectorSettings,
    producer: MemoryProducer,
    clock: FixedClock,
) -> None:
    example = parse_registry(
        yaml.safe_load((REPO / "deploy" / "registry.example.yaml").read_text())
    )
    app = create_app(settings, registry=example, producer=producer, clock=clock)
    with TestClient(app) as c:
        r = post_file(c, SKAN, VALID_4_0)
    assert (r.status_code, r.json()["error"]) == (404, "app_unknown")
    assert [x["reason"] for x in sent(producer, "events.dlq.v1")] == ["app_unknown"]


# --- SKAdNetwork 4.0 sequences, signed with local keys ------------------------------------------


@pytest.fixture
def signed_client(
    settings: CollectorSettings,
    registry: Registry,
    producer: MemoryProducer,
    clock: FixedClock,
    signer: TestSigner,
) -> Iterator[TestClient]:
    """The Apple router alone, trusting the local stand-ins for Apple's keys."""
    deps = build_deps(settings, registry, producer, clock, CollectorMetrics())
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(apple.build_router(deps, signer.keys))
    producer.started = True
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def signer() -> TestSigner:
    return TestSigner()


def skan_4(signer: TestSigner, sequence: int, **unsigned: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4.0",
        "ad-network-id": "example123.skadnetwork",
        "source-identifier": "5239",
        "app-id": 525463029,
        "transaction-id": "f9b1e2c4-0000-4000-8000-000000000001",
        "redownload": False,
        "source-app-id": 1234567891,
        "fidelity-type": 1,
        "did-win": True,
        "postback-sequence-index": sequence,
        **unsigned,
    }
    signed = [
        body["version"],
        body["ad-network-id"],
        body["source-identifier"],
        str(body["app-id"]),
        body["transaction-id"],
        "false",
        str(body["source-app-id"]),
        "1",
        "true",
        str(sequence),
    ]
    message = SEPARATOR.join(signed).encode()
    return body | {"attribution-signature": signer.der_b64(signer.p256, message)}


def test_skan_4_0_sequence_indexes_are_separate_and_retries_are_not(
    signed_client: TestClient, producer: MemoryProducer, signer: TestSigner
) -> None:
    answers = [
        signed_client.post(SKAN, json=skan_4(signer, 0, **{"conversion-value": 42})),
        signed_client.post(SKAN, json=skan_4(signer, 1, **{"coarse-conversion-value": "medium"})),
        signed_client.post(SKAN, json=skan_4(signer, 2, **{"coarse-conversion-value": "low"})),
        signed_client.post(SKAN, json=skan_4(signer, 1, **{"coarse-conversion-value": "medium"})),
    ]
    assert [a.status_code for a in answers] == [200] * 4
    ids = [a.json()["event_id"] for a in answers]
    assert len(set(ids[:3])) == 3
    assert ids[3] == ids[1]
    events = sent(producer)
    assert [
        (e["sub2"], e.get("conversion_value"), e.get("coarse_conversion_value")) for e in events
    ] == [("0", 42, None), ("1", None, "medium"), ("2", None, "low"), ("1", None, "medium")]
    assert len(set(keys(producer))) == 3  # keyed by event id: a retry lands with itself


def test_skan_4_0_with_a_changed_signed_field_is_refused(
    signed_client: TestClient, producer: MemoryProducer, signer: TestSigner
) -> None:
    body = skan_4(signer, 0) | {"source-identifier": "5240"}
    r = signed_client.post(SKAN, json=body)
    assert (r.status_code, r.json()["error"]) == (400, "skan_signature_invalid")
    assert sent(producer) == []


# --- AdAttributionKit --------------------------------------------------------------------------


def aak_client(
    registry: Registry, producer: MemoryProducer, clock: FixedClock, sandbox: bool
) -> TestClient:
    settings = CollectorSettings(skan_allow_development_keys=sandbox)
    return TestClient(create_app(settings, registry=registry, producer=producer, clock=clock))


def test_aak_development_sample_is_accepted_in_sandbox(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    if not AAK_SAMPLE.exists():
        pytest.skip(f"{AAK_SAMPLE} is absent")
    with aak_client(registry, producer, clock, sandbox=True) as c:
        first = post_file(c, AAK, AAK_SAMPLE)
        again = post_file(c, AAK, AAK_SAMPLE)
    assert (first.status_code, again.status_code) == (200, 200), first.text
    assert (
        first.json()["event_id"]
        == again.json()["event_id"]
        == postback_event_id("aak", "rocket-app", "85546EB7-FD39-44BC-8990-C98A4AC36A49")
    )
    install = sent(producer)[0]
    assert (install["type"], install["advertiser_id"], install["app_id"]) == (
        "install",
        "rocket-app",
        "id10738027756",
    )
    assert install["context"]["source"] == "aak"
    assert (install["source_identifier"], install["conversion_value"]) == ("1234", 24)
    assert (install["sub1"], install["sub5"]) == ("development.adattributionkit", "re-engagement")
    assert install["apple"]["ad_network_id"] == "development.adattributionkit"
    assert (install["apple"]["conversion_type"], install["apple"]["did_win"]) == (
        "re-engagement",
        True,
    )


def test_aak_development_sample_is_refused_in_production(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    if not AAK_SAMPLE.exists():
        pytest.skip(f"{AAK_SAMPLE} is absent")
    with aak_client(registry, producer, clock, sandbox=False) as c:
        r = post_file(c, AAK, AAK_SAMPLE)
    assert (r.status_code, r.json()["error"]) == (400, "aak_key_untrusted")
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["reason"], letter["source"]) == ("aak_key_untrusted", "aak")


def test_aak_tampered_payload_is_refused(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    if not AAK_SAMPLE.exists():
        pytest.skip(f"{AAK_SAMPLE} is absent")
    envelope = json.loads(AAK_SAMPLE.read_text())
    header, payload, signature = envelope["jws-string"].split(".")
    envelope["jws-string"] = f"{header}.{payload[:-4]}AAAA.{signature}"
    with aak_client(registry, producer, clock, sandbox=True) as c:
        r = c.post(AAK, json=envelope)
    assert r.status_code == 400
    assert r.json()["error"] in {"aak_signature_invalid", "aak_postback_malformed"}
    assert sent(producer) == []
    assert len(sent(producer, "events.dlq.v1")) == 1
