"""Errors raised by the event bus.

Every error knows whether retrying could succeed (``retriable``; an instance may override
the class default, e.g. with the retriability of the Kafka error behind it), the HTTP status
the collector answers with when the error reaches a request (``status_code``) and a stable
snake_case ``reason`` code::

    BusError                  503  bus_error
    ├── BusClosed             503  bus_closed              used before start() or after stop()
    ├── BusUnavailable        503  bus_unavailable         (retriable) broker unreachable
    ├── DeliveryFailed        503  delivery_failed         (retriable per cause) records not acked
    ├── CommitFailed          503  commit_failed           offsets not committed (e.g. the
    │                                                      partitions were revoked meanwhile)
    ├── OffsetOutOfRange      503  offset_out_of_range     read below the retained log
    ├── InvalidName           500  invalid_name            topic/group name not usable as a path
    └── LocalLogError         503  local_log_error
        ├── LogWriteFailed    503  local_log_write_failed  write/fsync failed; the log refuses
        │                                                  further appends until reopened
        └── LogCorrupt        503  local_log_corrupt       a bad record inside the durable part
"""

from __future__ import annotations

from typing import ClassVar


class BusError(Exception):
    """Base of every error raised by ``services.bus``."""

    retriable: bool = False
    status_code: ClassVar[int] = 503
    reason: ClassVar[str] = "bus_error"

    def __init__(self, message: str = "", *, retriable: bool | None = None) -> None:
        if retriable is not None:
            self.retriable = retriable
        self.message = message or self.reason
        super().__init__(self.message)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, retriable={self.retriable}, "
            f"message={self.message!r})"
        )


def is_retriable(exc: BaseException) -> bool:
    """Whether retrying could succeed, as the error (ours, or a Kafka client's) says."""
    return bool(getattr(exc, "retriable", False))


class BusClosed(BusError):
    reason = "bus_closed"


class BusUnavailable(BusError):
    retriable = True
    reason = "bus_unavailable"


class DeliveryFailed(BusError):
    """Some records of a batch were not acknowledged.

    ``delivered`` holds the indices (in the batch) of records that WERE acknowledged, when
    the producer knows them, so that a retry can skip them.
    """

    retriable = True
    reason = "delivery_failed"

    def __init__(
        self,
        message: str = "",
        *,
        retriable: bool | None = None,
        delivered: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(message, retriable=retriable)
        self.delivered = delivered


class CommitFailed(BusError):
    reason = "commit_failed"


class OffsetOutOfRange(BusError):
    reason = "offset_out_of_range"


class InvalidName(BusError):
    status_code = 500
    reason = "invalid_name"


class LocalLogError(BusError):
    reason = "local_log_error"


class LogWriteFailed(LocalLogError):
    reason = "local_log_write_failed"


class LogCorrupt(LocalLogError):
    reason = "local_log_corrupt"
