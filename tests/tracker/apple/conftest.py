from __future__ import annotations

import pytest
from apple_vectors import TestSigner


@pytest.fixture(scope="session")
def signer() -> TestSigner:
    """Locally generated stand-ins for Apple's keys (one set per test session)."""
    return TestSigner()
