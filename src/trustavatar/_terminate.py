"""SIGTERM, raised where Ctrl-C would be, and remembered; signals held where an exception
would do harm.

The CLI installs :func:`on_sigterm`. The exception it raises can land where it is lost:
inside an import of a C extension (mediapipe turned it into "ImportError: initialization
failed"), or in code that swallows it. So the request is also remembered:
:func:`~trustavatar._atomic.atomic_output` checks it before it moves a finished output
into place, and the CLI reports any failure after it as terminated (exit 143).

:func:`held` keeps SIGINT and SIGTERM from raising inside a block: C code that calls back
into Python (c2pa's stream callbacks lose the exception, or abort the process with a Rust
panic), and a commit whose parts belong together (a ledger row and the rename of the output
it names).
"""

from __future__ import annotations

__all__ = ["Terminated", "children_deaf", "held", "on_sigterm", "raise_if_requested",
           "requested"]

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_requested = False
_HELD = (signal.SIGINT, signal.SIGTERM)
#: whether a :func:`held` block runs now (an inner one leaves the holding to it)
_holding = False


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


def _only_raises(handler: Any) -> bool:
    """Whether ``handler``'s only effect is an exception (Python's Ctrl-C handler, ours)."""
    return handler is signal.default_int_handler or handler is on_sigterm


@contextlib.contextmanager
def held(*, commit: str | None = None) -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block: one that arrives is remembered, and delivered
    to the handler that was in place when the block ends (the exception it raises then
    comes from a line where it can be handled).

    ``commit``: the block completes work that must not be undone (what it makes, for the
    message): a signal whose handler would only raise an exception is then not delivered
    (it would report as failed a command whose output exists), and a line on stderr says
    the signal came too late (a SIGTERM is still remembered: :func:`raise_if_requested`);
    any other handler (the default action, an application's own) is called as usual.
    SIGTERM is delivered before a SIGINT that came too. Outside the main thread (where no
    signal handler runs), inside another held block (which delivers), or where a handler
    was installed outside Python, the block runs as it is."""
    global _holding
    if (_holding or threading.current_thread() is not threading.main_thread()
            or any(signal.getsignal(sig) is None for sig in _HELD)):
        # held already (the outer block delivers), no handler runs here (another thread),
        # or a handler installed outside Python, which could not be put back
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: object) -> None:
        pending.append(signum)

    before: dict[int, Callable[..., Any] | int | None] = {}
    completed = False
    _holding = True
    try:
        for sig in _HELD:
            before[sig] = signal.signal(sig, remember)
        yield
        completed = True
    finally:
        _holding = False
        # both handlers put back at once: a Ctrl-C between the two left SIGTERM remembered
        # by this block forever after (a signal that comes meanwhile is delivered after)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            for num, handler in before.items():
                signal.signal(num, handler)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # SIGTERM first (a stop asked for outranks a Ctrl-C), then the others, each once,
        # until one raises; a block that failed was not committed: they go as usual
        order = sorted(set(pending), key=lambda s: (s != signal.SIGTERM, pending.index(s)))
        for num in order:
            _deliver(num, before.get(num), commit if completed else None)


def _deliver(signum: int, handler: Any, commit: str | None) -> None:
    global _requested
    if commit is not None and _only_raises(handler):
        if signum == signal.SIGTERM:  # not raised now, but not forgotten: the next output
            _requested = True         # refuses to be moved in (raise_if_requested)
        name = signal.Signals(signum).name
        sys.stderr.write(f"trustavatar: {name} came while {commit} was being committed; "
                         "it was completed\n")
        return
    signal.raise_signal(signum)


@contextlib.contextmanager
def children_deaf() -> Iterator[None]:
    """Start child processes inside this block and they never receive SIGINT: it is
    blocked here while they start, and a blocked signal stays blocked in a child across
    fork and exec. A Ctrl-C at the terminal goes to the whole process group; children
    that took it each died with a traceback on stderr (one even while importing), while
    this process stops them itself (with SIGTERM). A SIGINT that comes during the block is
    delivered to this process when it ends. Outside the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT,))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
