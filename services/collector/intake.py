"""The shared path of every door: validate, enrich, publish; refuse into dead letters.

Every route hands its raw items (or events it built) to `Intake`. Valid items are enriched
(`tracker.enrich`) and published; each refused item becomes a dead letter with its reason,
published to the DLQ topic. The call returns only when both are durable.

Raw items in the plain, common shape take the fast path (`tracker.canonical`): checked,
enriched and encoded straight from the dict, to the same bytes the pydantic path gives; any
other item is validated by pydantic, so its errors and edge cases are that path's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.events import EventBase
from services.clock import Clock
from services.collector.publisher import Publisher
from services.collector.random_ids import new_event_id
from tracker.canonical import EncodedEvent, RequestCanon, check_item, encode_item
from tracker.click_ids import ClickIdClaims
from tracker.dead_letters import DeadLetter, raw_text
from tracker.enrich import EnrichConfig, RequestInfo, enrich
from tracker.errors import InvalidEvent, TrackerError
from tracker.sdk_batches import check_item_size, describe, validate_item


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str
    detail: str

    def as_item(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.reason, "detail": self.detail}


Accepted = EventBase | EncodedEvent  # a validated model, or one the fast path encoded


@dataclass(slots=True)
class Outcome:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def as_response(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "rejected": [r.as_item() for r in self.rejected],
            "event_ids": [e.event_id for e in self.accepted],
        }


class Intake:
    def __init__(
        self,
        publisher: Publisher,
        enrich_config: EnrichConfig,
        clock: Clock,
        *,
        max_event_bytes: int,
        new_id: Callable[[], str] = new_event_id,
        fast_items: bool = True,
    ) -> None:
        self.publisher = publisher
        self.enrich_config = enrich_config
        self.clock = clock
        self.max_event_bytes = max_event_bytes
        self.new_id = new_id
        self.fast_items = fast_items  # False: every raw item through pydantic (parity tests)

    def dead_letter(
        self, exc: TrackerError, raw: object, info: RequestInfo, endpoint: str
    ) -> DeadLetter:
        return DeadLetter(
            rejected_id=self.new_id(),
            received_at_ms=info.received_at_ms,
            endpoint=endpoint,
            source=info.source.value,
            reason=exc.reason,
            detail=exc.message,
            status_code=exc.status_code,
            raw=raw_text(raw),
            advertiser_id=info.advertiser_id or "",
        )

    async def accept_items(
        self,
        items: Sequence[Any],
        info: RequestInfo,
        endpoint: str,
        *,
        check_size: bool = True,
        allow_server_only: bool = False,
        minted: ClickIdClaims | None = None,
        as_received: object = None,
    ) -> Outcome:
        """Validate and enrich raw items one by one; publish the good, dead-letter the rest.
        ``minted``: the claims of the click id a route just minted for the one click it
        built (see `accept_events`). ``as_received``: what a dead letter records as the raw
        input (default: the item), e.g. the query string of a pixel's GET."""
        outcome = Outcome()
        letters: list[DeadLetter] = []
        canon = RequestCanon(info, self.enrich_config)
        fast = self.fast_items
        for index, item in enumerate(items):
            try:
                if check_size:
                    check_item_size(item, self.max_event_bytes)
                values = check_item(item) if fast else None
                if values is not None:
                    outcome.accepted.append(self._encode(values, canon, minted))
                    continue
                event = validate_item(
                    item,
                    max_event_bytes=self.max_event_bytes,
                    check_size=False,
                    allowed_server_only=allow_server_only,
                )
                outcome.accepted.append(self._enrich(event, info, minted))
            except TrackerError as exc:
                outcome.rejected.append(Rejection(index, exc.reason, exc.message))
                raw = item if as_received is None else as_received
                letters.append(self.dead_letter(exc, raw, info, endpoint))
        await self._flush(outcome.accepted, letters)
        return outcome

    async def accept_events(
        self,
        events: Sequence[EventBase],
        info: RequestInfo,
        endpoint: str,
        *,
        minted: ClickIdClaims | None = None,
    ) -> Outcome:
        """Events a route built itself (clicks, postbacks): enrich, publish, dead-letter.
        ``minted``: the claims of the click id the route just minted for its one click."""
        outcome = Outcome()
        letters: list[DeadLetter] = []
        for index, event in enumerate(events):
            try:
                outcome.accepted.append(self._enrich(event, info, minted))
            except TrackerError as exc:
                outcome.rejected.append(Rejection(index, exc.reason, exc.message))
                letters.append(self.dead_letter(exc, event.model_dump(mode="json"), info, endpoint))
        await self._flush(outcome.accepted, letters)
        return outcome

    async def reject(
        self, exc: TrackerError, raw: object, info: RequestInfo, endpoint: str
    ) -> DeadLetter:
        """Record one refused request as a dead letter (durably) and return it."""
        letter = self.dead_letter(exc, raw, info, endpoint)
        await self.publisher.dead_letter([letter])
        return letter

    def _encode(
        self, values: dict[str, Any], canon: RequestCanon, minted: ClickIdClaims | None = None
    ) -> EncodedEvent:
        """The fast path's `_enrich`: the same id draw, the same errors."""
        try:
            new_id = "" if "event_id" in values else self.new_id()  # only when it has none
            return encode_item(values, canon, new_id, minted=minted)
        except ValidationError as exc:  # an enrichment value broke a model constraint
            raise InvalidEvent(describe(exc)) from exc

    def _enrich(
        self, event: EventBase, info: RequestInfo, minted: ClickIdClaims | None = None
    ) -> EventBase:
        try:
            new_id = "" if event.event_id else self.new_id()  # only when it has none
            return enrich(event, info, self.enrich_config, new_id, minted=minted)
        except ValidationError as exc:  # an enrichment value broke a model constraint
            raise InvalidEvent(describe(exc)) from exc

    async def _flush(self, events: list[Accepted], letters: list[DeadLetter]) -> None:
        if events and letters:
            await asyncio.gather(
                self.publisher.publish(events), self.publisher.dead_letter(letters)
            )
        elif events:
            await self.publisher.publish(events)
        elif letters:
            await self.publisher.dead_letter(letters)
