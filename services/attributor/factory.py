"""Building an attributor from its settings (engine config, models, sink)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from attribution.columns import Model
from attribution.contracts import ContractBook
from attribution.engine import EngineConfig
from attribution.windows import DAY_MS, HOUR_MS, LookbackWindows
from services.attributor.flooding import flood_rules
from services.attributor.metrics import AttributorMetrics
from services.attributor.payouts import contract_models
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import Sink
from services.bus.protocols import EventConsumer, EventProducer
from services.clock import Clock
from services.errors import ConfigError
from services.settings import AttributorSettings

STREAM_MODELS = {
    "last_touch": Model.LAST_TOUCH,
    "first_touch": Model.FIRST_TOUCH,
    "linear": Model.LINEAR,
    "time_decay": Model.TIME_DECAY,
    "position_based": Model.POSITION_BASED,
    "role_weights": Model.ROLE_WEIGHTS,
}


def attributor_config(settings: AttributorSettings) -> AttributorConfig:
    unknown = [m for m in settings.models if m not in STREAM_MODELS]
    if unknown:
        raise ConfigError(
            f"PARTNERSTREAM_MODELS: {unknown} are not streaming models; choose from "
            f"{sorted(STREAM_MODELS)} (markov and shapley are computed by the reports)"
        )
    engine = EngineConfig(
        windows=LookbackWindows(
            click_ms=settings.click_lookback_days * DAY_MS,
            impression_ms=settings.impression_lookback_hours * HOUR_MS,
        ),
        post_install_ms=settings.post_install_window_days * DAY_MS,
    )
    return AttributorConfig(
        events_topic=settings.events_topic,
        dlq_topic=settings.dlq_topic,
        batch_max_records=settings.batch_max_records,
        batch_max_ms=settings.batch_max_ms,
        models=tuple(STREAM_MODELS[m] for m in settings.models),
        engine=engine,
        retry_max_seconds=settings.retry_max_seconds,
        chaos_exit_after_write=settings.chaos_exit_after_write,
        flooding=flood_rules(settings),
    )


def build_attributor(
    settings: AttributorSettings,
    consumer: EventConsumer,
    sink: Sink,
    clock: Clock,
    *,
    metrics: AttributorMetrics | None = None,
    partner_types: Mapping[str, str] | None = None,
    contracts: ContractBook | None = None,
    dlq_producer: EventProducer | None = None,
) -> Attributor:
    """The attributor; it also computes every model the contracts split payouts by."""
    config = attributor_config(settings)
    if contracts is not None:
        extra = tuple(sorted(contract_models(contracts) - set(config.models)))
        config = replace(config, models=config.models + extra)
    return Attributor(
        consumer,
        sink,
        clock,
        config,
        metrics=metrics,
        partner_types=partner_types,
        contracts=contracts,
        dlq_producer=dlq_producer,
    )
