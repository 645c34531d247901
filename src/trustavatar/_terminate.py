"""SIGTERM, raised where Ctrl-C would be, and remembered.

The CLI installs :func:`on_sigterm`. The exception it raises can land where it is lost:
inside an import of a C extension (mediapipe turned it into "ImportError: initialization
failed"), or in code that swallows it. So the request is also remembered:
:func:`~trustavatar._atomic.atomic_output` checks it before it moves a finished output
into place, and the CLI reports any failure after it as terminated (exit 143).
"""

from __future__ import annotations

__all__ = ["Terminated", "on_sigterm", "raise_if_requested", "requested"]

_requested = False


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, ``docker stop``), raised where Ctrl-C would be so
    that the same clean-up runs: temporary outputs removed, child processes stopped."""


def on_sigterm(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    raise Terminated


def requested() -> bool:
    """Whether SIGTERM arrived in this process."""
    return _requested


def raise_if_requested() -> None:
    """Raise :class:`Terminated` if SIGTERM arrived, even if its exception was lost."""
    if _requested:
        raise Terminated
