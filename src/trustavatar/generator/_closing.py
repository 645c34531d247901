"""A context manager for the generator's streaming stages: :meth:`close` when the block
succeeds (finish the work, report its failures), :meth:`abort` when it raised (stop, and
let the block's error through)."""

from __future__ import annotations

__all__ = ["CloseOrAbort"]

import contextlib
from types import TracebackType
from typing import Self


class CloseOrAbort:
    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:  # the block's error is the one to report, not a second one on the way out
            with contextlib.suppress(Exception):
                self.abort()
