"""Exceptions that reach the user as one line."""

from __future__ import annotations

from typing import Optional

__all__ = ["OtterError", "OtterConfigError"]


class OtterError(Exception):
    """An error caused by the user's input; the CLI prints it as one line, no traceback."""


class OtterConfigError(OtterError):
    """A problem in a config file, reported as ``<file>: <key.path>: <message>``.

    Args:
        message: What is wrong and, where possible, what would be accepted.
        file: The config file the problem is in.
        key: The dotted key path of the offending value, e.g. ``optimizer.options.lr``.
    """

    def __init__(self, message: str, file: Optional[str] = None, key: Optional[str] = None):
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join([*parts, self.message])

    def located(self, file: Optional[str] = None, key_prefix: Optional[str] = None) -> "OtterConfigError":
        """Return a copy placed in ``file`` and under ``key_prefix`` (fills in what is missing)."""
        key = self.key
        if key_prefix:
            key = f"{key_prefix}.{key}" if key else key_prefix
        return OtterConfigError(self.message, file=self.file or file, key=key)
