"""The spoken-code check in a second Python, beside the frame checks of the same clip.

PocketSphinx holds the GIL while it decodes, so on a thread the spoken-code check (about
2.2 s for a 10 s clip on a 2-core CPU) and the face tracking of the same clip take turns
instead of running together. :class:`SpeechProcess` runs
:func:`~trustavatar.consent.spoken_code.score_spoken_code` in a child process, started at
once (importing it takes ~0.3 s), and hands back its result. Where no child can be
started, or it fails, the check runs in this process instead: the result is the same
computation either way (the check is deterministic).
"""

from __future__ import annotations

__all__ = ["SpeechProcess", "main"]

import contextlib
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from trustavatar._child_process import child_command, child_environment, result_channel
from trustavatar.consent.spoken_code import (
    DEFAULT_SAMPLE_RATE,
    ENGLISH_TEMPLATE,
    ConsentTemplate,
    SpokenCodeResult,
    score_spoken_code,
)
from trustavatar.errors import Error
from trustavatar.generator.audio import Audio, resample


class SpeechProcess:
    """:func:`~trustavatar.consent.spoken_code.score_spoken_code` of ``audio`` for ``code``,
    computed in a child process that starts now; :meth:`result` waits for it. A context
    manager: leaving it stops the child if it still runs."""

    def __init__(self, audio: Audio, code: str, *,
                 template: ConsentTemplate = ENGLISH_TEMPLATE) -> None:
        # at the recogniser's rate already: the child then needs no resampling (nor scipy)
        audio = resample(audio, DEFAULT_SAMPLE_RATE)
        self._audio, self._code, self._template = audio, code, template
        self._folder = tempfile.TemporaryDirectory(prefix="trustavatar-speech-")
        self._proc: subprocess.Popen[bytes] | None = None
        job = Path(self._folder.name) / "job.pickle"
        try:
            with job.open("wb") as f:
                pickle.dump({"samples": np.asarray(audio.samples),
                             "sample_rate": audio.sample_rate, "code": code,
                             "template": template}, f)
            self._proc = subprocess.Popen(
                child_command(__name__, str(job)), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_environment())
        except OSError:  # no child here (a full disk, a locked-down host): score in result()
            self._proc = None

    @property
    def in_child(self) -> bool:
        """Whether a child process was started for the check."""
        return self._proc is not None

    def result(self) -> SpokenCodeResult:
        """The child's result; the same check run here when the child could not give one.
        Raises what the check raises (an :class:`~trustavatar.errors.InputError` for empty
        audio, for instance)."""
        reply = self._reply()
        if isinstance(reply, SpokenCodeResult):
            return reply
        if isinstance(reply, Error):
            raise reply
        return score_spoken_code(self._audio, self._code, template=self._template)

    def _reply(self) -> Any:
        if self._proc is None:
            return None
        out, _ = self._proc.communicate()
        if self._proc.returncode != 0:
            return None
        try:
            return pickle.loads(out)  # noqa: S301 - written by our own child
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc is not None and self._proc.stdout is not None:
            with contextlib.suppress(OSError):
                self._proc.stdout.close()
        self._folder.cleanup()

    def __enter__(self) -> SpeechProcess:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def main() -> int:
    """The child: the job file named by the first argument (audio, code, template); the
    pickled :class:`SpokenCodeResult`, or the library error the check raised, on stdout.
    Any other failure ends with a traceback and exit code 1 (the parent then scores the
    clip itself)."""
    channel = result_channel()
    with Path(sys.argv[1]).open("rb") as f:
        job = pickle.load(f)  # noqa: S301 - written by our own parent
    audio = Audio.from_array(job["samples"], job["sample_rate"])
    try:
        reply: SpokenCodeResult | Error = score_spoken_code(audio, job["code"],
                                                            template=job["template"])
    except Error as e:
        reply = e
    channel.write(pickle.dumps(reply))
    channel.close()
    return 0
