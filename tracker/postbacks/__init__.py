"""MMP postbacks (AppsFlyer, Adjust, Branch, Kochava, generic): pure core.

Presets are data (``presets.yaml``). The collector, per request: ``verify_postback_auth``
with the source's ``PostbackAuthConfig``, then ``map_postback(preset, params)``, then
``postback_fraud_signals``; it records the ``MappedPostback`` under its ``dedup_key``.
"""

from tracker.postbacks.auth import (
    PostbackAuthConfig,
    auth_config_for,
    canonical_query_string,
    postback_signature,
    verify_postback_auth,
)
from tracker.postbacks.errors import (
    PostbackAuthFailed,
    PostbackMalformed,
    PostbackSourceForbidden,
    PresetInvalid,
)
from tracker.postbacks.fraud import (
    FloodThresholds,
    FraudRules,
    PartnerClickStats,
    click_flooding_report,
    postback_fraud_signals,
)
from tracker.postbacks.mapping import MappedPostback, ctit_seconds, map_postback
from tracker.postbacks.presets import Preset, default_presets, load_presets, load_presets_yaml

__all__ = [
    "FloodThresholds",
    "FraudRules",
    "MappedPostback",
    "PartnerClickStats",
    "PostbackAuthConfig",
    "PostbackAuthFailed",
    "PostbackMalformed",
    "PostbackSourceForbidden",
    "Preset",
    "PresetInvalid",
    "auth_config_for",
    "canonical_query_string",
    "click_flooding_report",
    "ctit_seconds",
    "default_presets",
    "load_presets",
    "load_presets_yaml",
    "map_postback",
    "postback_fraud_signals",
    "postback_signature",
    "verify_postback_auth",
]
