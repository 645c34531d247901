"""The sample portrait shipped with the package (a public-domain NASA photograph)."""

from __future__ import annotations

__all__ = ["sample_portrait_path"]

import atexit
import contextlib
import functools
import importlib.resources
from pathlib import Path

_exit_stack = contextlib.ExitStack()
atexit.register(_exit_stack.close)


@functools.cache
def sample_portrait_path() -> Path:
    """Path of ``trustavatar/data/sample_portrait.jpg``: 256x256 JPEG, one face.

    The photograph is astronaut Eileen Collins (NASA, public domain), as distributed by
    scikit-image (``skimage.data.astronaut``); ``fixtures/make_sample_portrait.py`` made
    the crop. Use it for demos and tests only: it is a real person's face.
    """
    resource = importlib.resources.files("trustavatar") / "data" / "sample_portrait.jpg"
    if isinstance(resource, Path):
        return resource
    return _exit_stack.enter_context(importlib.resources.as_file(resource))
