"""The spoken-code check run in a second Python (real PocketSphinx in a real child process):
the same result as in this process, library errors carried back, and the fallback when no
child can be started."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from trustavatar.consent.speech_process import SpeechProcess
from trustavatar.consent.spoken_code import ENGLISH_TEMPLATE, score_spoken_code
from trustavatar.errors import InputError
from trustavatar.generator.audio import Audio, resample, synthesize


@pytest.fixture(scope="module")
def reading() -> Audio:
    """The consent sentence read by espeak-ng, at 22.05 kHz as a camera's audio might be (the
    child gets it at 16 kHz)."""
    return resample(synthesize(ENGLISH_TEMPLATE.spoken("471283"), language="en-us").audio,
                    22050)


@pytest.mark.slow
def test_child_gives_the_in_process_result(reading: Audio) -> None:
    with SpeechProcess(reading, "471283") as job:
        assert job.in_child
        result = job.result()
    assert result == score_spoken_code(reading, "471283")  # deterministic: equal, field by field
    assert result.failure is None and result.adapted
    # and on audio already at the recogniser's rate
    at_16k = resample(reading, 16000)
    with SpeechProcess(at_16k, "471288") as job:
        wrong = job.result()
    assert wrong == score_spoken_code(at_16k, "471288")
    assert wrong.failure is not None and wrong.failure.startswith("heard code 471283")


def test_library_error_comes_back_from_the_child() -> None:
    with SpeechProcess(Audio.from_array(np.zeros(0, np.float32), 16000), "471283") as job:
        assert job.in_child
        with pytest.raises(InputError, match="the audio is empty"):
            job.result()


def test_no_child_scores_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A host where no second Python can be started still gets the check, in process."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    silence = Audio.from_array(np.zeros(16000, np.float32), 16000)
    with SpeechProcess(silence, "471283") as job:
        assert not job.in_child
        result = job.result()
    assert result == score_spoken_code(silence, "471283")
    assert result.code is None and result.failure is not None


def test_a_failing_child_falls_back() -> None:
    """A child that dies (here: killed at once) does not lose the check."""
    silence = Audio.from_array(np.zeros(16000, np.float32), 16000)
    with SpeechProcess(silence, "471283") as job:
        assert job._proc is not None
        job._proc.kill()
        result = job.result()
    assert result == score_spoken_code(silence, "471283")
