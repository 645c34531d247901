"""Running part of a job in a second Python: how the child is started and how it answers.

Native code that holds the GIL (PocketSphinx) or that costs as much as the work around it
(the generator's QA) runs beside the caller in a child process. The child runs
``main()`` of a module of this package, imported from wherever the parent imported the
package, so an uninstalled checkout works too. Its result goes to the parent on the
original standard output; anything native code prints goes to standard error.
"""

from __future__ import annotations

__all__ = ["child_command", "child_environment", "result_channel"]

import os
import sys
from pathlib import Path
from typing import BinaryIO

#: The child's program: the package's folder goes first on its path unless it is there
#: already (an installed package: putting site-packages first would shadow the stdlib).
_CHILD = """\
import importlib, os, sys
root = sys.argv.pop(1)
module = sys.argv.pop(1)
if root not in {os.path.realpath(p) for p in sys.path if p}:
    sys.path.insert(0, root)
sys.exit(importlib.import_module(module).main())
"""


def child_command(module: str, *args: str) -> list[str]:
    """The command that runs ``module.main()`` (a module of this package) in a new Python
    with ``args`` as its arguments (``sys.argv[1:]``)."""
    root = str(Path(__file__).resolve().parents[1])
    return [sys.executable, "-c", _CHILD, root, module, *args]


def child_environment() -> dict[str, str]:
    """This process's environment, with the native libraries' chatter turned down."""
    env = dict(os.environ)
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def result_channel() -> BinaryIO:
    """In the child: the original standard output, for the result alone; file descriptor 1
    then points to standard error, so whatever native code prints cannot corrupt it."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel
