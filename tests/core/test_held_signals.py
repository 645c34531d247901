"""Signals held where their exception would do harm (``_terminate.held``): inside C code
that calls back into Python (c2pa), and over a commit whose parts belong together."""

from __future__ import annotations

import signal

import pytest

from trustavatar import _terminate


def test_a_held_signal_is_delivered_when_the_block_ends() -> None:
    reached = False
    with pytest.raises(KeyboardInterrupt), _terminate.held():
        signal.raise_signal(signal.SIGINT)
        reached = True  # the block was not cut off where the signal came
    assert reached and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_commit_completes_and_says_the_signal_came_too_late(capsys) -> None:
    with _terminate.held(commit="the output o.mp4"):
        signal.raise_signal(signal.SIGINT)
    assert capsys.readouterr().err == ("trustavatar: SIGINT came while the output o.mp4 was "
                                       "being committed; it was completed\n")


def test_a_commit_that_fails_is_interrupted_as_usual() -> None:
    with pytest.raises(KeyboardInterrupt) as e, _terminate.held(commit="the output o.mp4"):
        signal.raise_signal(signal.SIGINT)
        raise OSError("disk full")
    assert isinstance(e.value.__context__, OSError)


def test_a_handler_of_ones_own_is_called_after_a_commit_too() -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
    try:
        with _terminate.held(commit="x"):
            signal.raise_signal(signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)
