"""One exception base with transient (retry) and terminal (report) kinds."""

from __future__ import annotations


class VerifierError(Exception):
    """Base of every error verifier raises on purpose."""

    transient = False


class TransientError(VerifierError):
    """Worth retrying: timeouts, throttling, connection resets."""

    transient = True


class TerminalError(VerifierError):
    """Retrying will not help: denied, not found, bad input."""


class ConfigError(TerminalError):
    """The configuration file or the command line is wrong; nothing was run."""


class CatalogLocked(TerminalError):
    """Another process holds the catalog for writing."""


class CatalogError(TerminalError):
    """The catalog cannot be opened, read or migrated."""


class BackendUnavailable(TerminalError):
    """A backend's optional dependency is not installed."""


class StoreError(VerifierError):
    """A store could not be listed or read. `transient` is set per instance."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
