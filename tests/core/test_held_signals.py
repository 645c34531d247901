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


def test_sigterm_is_delivered_before_a_ctrl_c_and_a_late_one_is_remembered(
        monkeypatch, capsys) -> None:
    monkeypatch.setattr(_terminate, "_requested", False)
    old = signal.signal(signal.SIGTERM, _terminate.on_sigterm)
    try:
        with pytest.raises(_terminate.Terminated), _terminate.held():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGTERM)
        monkeypatch.setattr(_terminate, "_requested", False)
        with _terminate.held(commit="the output o.mp4"):  # completed: not raised now...
            signal.raise_signal(signal.SIGTERM)
        assert _terminate.requested()  # ...but the next output will not be moved in
        with pytest.raises(_terminate.Terminated):
            _terminate.raise_if_requested()
    finally:
        signal.signal(signal.SIGTERM, old)


def test_an_inner_block_leaves_the_holding_to_the_outer_one() -> None:
    with pytest.raises(KeyboardInterrupt), _terminate.held():
        with _terminate.held(commit="x"):
            signal.raise_signal(signal.SIGINT)
        reached = True  # the inner block did not deliver it
    assert reached


def test_a_ctrl_c_is_not_lost_behind_an_ignored_sigterm() -> None:
    old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt), _terminate.held():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, old)
