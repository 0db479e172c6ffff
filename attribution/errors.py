"""Errors raised by the attribution engine.

Every error knows whether retrying the same input could succeed (``retriable``) and carries a
stable snake_case ``reason`` code (recorded in dead letters)::

    AttributionError                 attribution_error
    ├── InvalidInputError            invalid_attribution_input   (columns of the wrong type/shape)
    ├── ConfigError                  invalid_attribution_config  (windows, shares, half-life)
    │   └── UnsupportedModelError    unsupported_model           (not a heuristic model)
    └── UnknownConversionError       unknown_conversion          (explain of an absent conversion)

Other modules of the package (contracts, markov, ...) subclass `AttributionError` with their
own ``reason``. Nothing here is retriable: the engine is pure, the same input fails again.
"""

from __future__ import annotations

from typing import ClassVar


class AttributionError(Exception):
    """Base of every error raised by ``attribution``."""

    retriable: ClassVar[bool] = False
    reason: ClassVar[str] = "attribution_error"


class InvalidInputError(AttributionError):
    """Input columns of the wrong dtype or contents (e.g. a negative reversal amount)."""

    reason = "invalid_attribution_input"


class ConfigError(AttributionError):
    """An engine setting is out of range (negative window, shares summing to zero, ...)."""

    reason = "invalid_attribution_config"


class UnsupportedModelError(ConfigError):
    """The heuristic engine was asked for a model it does not compute (Markov, Shapley)."""

    reason = "unsupported_model"


class UnknownConversionError(AttributionError):
    """`explain` was asked about a conversion id that is not among the conversions given."""

    reason = "unknown_conversion"
