"""Errors of the IO layer (services/).

    ServiceError
    ├── ConfigError          bad environment variable (not retriable)
    └── StoreError           ClickHouse write/read failed
        ├── StoreUnavailable (retriable: back off and try again, commit nothing)
        └── MigrationError   a migration file failed or changed after it was applied

Each error says whether retrying can help (`retriable`).
"""

from __future__ import annotations


class ServiceError(Exception):
    retriable: bool = False


class ConfigError(ServiceError):
    pass


class StoreError(ServiceError):
    pass


class StoreUnavailable(StoreError):
    retriable = True


class MigrationError(StoreError):
    pass
