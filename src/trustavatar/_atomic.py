"""Atomic output: write to a temporary file beside the target, rename when complete.

A failure at any point leaves no partial file behind (the temporary is removed) and the
target, if it existed, untouched.

A process killed outright (``kill -9``, power loss) cannot remove its temporary file. Its
name says which host and process made it (``.NAME.HOST-PID.XXXXXXXX.part``, where HOST is a
hash of the host name and process-id namespace), so the next output to the same target
removes the temporaries of processes of this host that no longer run, once they have been
left untouched for an hour (:data:`STALE_AFTER`). A temporary of a live process, of another
host (a shared network folder) or from a version before this naming is left alone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from trustavatar import _terminate
from trustavatar.errors import InputError

#: bytes of the target's name kept in its temporary file's name (which callers may extend,
#: e.g. ``.raw.mp4``: a file system allows 255 bytes)
_NAME_KEPT = 64
#: the longest file name (bytes) a Linux file system takes
_NAME_MAX = 255


def _owner() -> str:
    """``HOST-PID`` for this process: which host and process a temporary file belongs to."""
    return f"{_host()}-{os.getpid()}"


@functools.cache
def _host() -> str:
    """A hash of the host name and the process-id namespace: two containers that share a
    host name and a folder do not see each other's processes, so neither may judge the
    other's temporaries."""
    try:
        namespace = str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        namespace = ""
    text = f"{socket.gethostname()}/{namespace}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


#: what follows ``.{target name}.`` in a temporary file's name (callers may extend it)
_TEMPORARY_TAIL = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.part(?:\..*)?",
                             re.DOTALL)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


#: A temporary file (with the files beside it that extend its name) untouched for this long
#: (seconds) whose process is gone may be removed.
STALE_AFTER = 3600.0


def _remove_stale(directory: Path, prefix: str) -> None:
    """Remove the temporary files named ``{prefix}HOST-PID.XXXXXXXX.part*`` in
    ``directory`` that this host's processes left when they were killed: their process no
    longer runs, and none of the group (``X.part``, ``X.part.raw.mp4`` …) was written to in
    the last :data:`STALE_AFTER` seconds. The age also guards against what a process id
    cannot tell: another machine that has the same host name (and so the same HOST)."""
    host = _host()
    groups: dict[str, list[tuple[Path, float]]] = {}
    try:
        with os.scandir(directory) as entries:
            for e in entries:
                m = (_TEMPORARY_TAIL.fullmatch(e.name, len(prefix))
                     if e.name.startswith(prefix) else None)
                if m is None or m["host"] != host or not e.is_file(follow_symlinks=False):
                    continue
                group = e.name[:m.end("pid") + 14]  # …HOST-PID.XXXXXXXX.part
                groups.setdefault(group, []).append(
                    (directory / e.name, e.stat(follow_symlinks=False).st_mtime))
    except OSError:
        return
    now = time.time()
    for group, files in groups.items():
        pid = int(_TEMPORARY_TAIL.fullmatch(group, len(prefix))["pid"])  # type: ignore[index]
        if _running(pid) or now - max(mtime for _, mtime in files) < STALE_AFTER:
            continue
        for path, _ in files:
            with contextlib.suppress(OSError):  # another run got there first, or read-only
                path.unlink()


def _shortened(name: str) -> str:
    """At most :data:`_NAME_KEPT` bytes of ``name`` (whole characters)."""
    raw = os.fsencode(name)
    return name if len(raw) <= _NAME_KEPT else raw[:_NAME_KEPT].decode("utf-8", "ignore")


def _temporary_beside(target: Path) -> Path:
    """An empty temporary file in ``target``'s directory (InputError when there is none or
    it cannot be written)."""
    if len(os.fsencode(target.name)) > _NAME_MAX:
        raise InputError(f"cannot write {target}: its file name is too long "
                         f"({len(os.fsencode(target.name))} bytes; at most {_NAME_MAX})")
    directory = target.parent if str(target.parent) else Path()
    try:
        if not target.name or target.name in (".", "..") or target.is_dir():
            raise InputError(f"the output {str(target)!r} is a directory, not a file name")
        if directory.exists() and not directory.is_dir():
            raise InputError(f"cannot write {target}: {directory} is a file, not a directory")
        if not directory.is_dir():
            raise InputError(f"output directory {directory} does not exist")
    except OSError as e:  # a path too long, a loop of links
        raise InputError(f"cannot write {target}: {e.strerror or e}") from e
    prefix = f".{_shortened(target.name)}."
    _remove_stale(directory, prefix)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{_owner()}.", suffix=".part",
                                        dir=directory)
    except OSError as e:
        raise InputError(f"cannot write to {directory}: {e.strerror}") from e
    os.close(fd)
    return Path(tmp_name)


def check_writable(target: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` now if :func:`atomic_output` could not write ``target``
    later: for commands whose work has side effects (a challenge used, a row recorded)
    before the output is written."""
    _temporary_beside(Path(target)).unlink()


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, mode: int | None = None,
                  replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s directory; on success rename it onto ``target``.

    The caller writes the complete output to the yielded path. If the ``with`` body
    raises, the temporary file is deleted and the exception propagates. ``replace=False``:
    never replace a file, not even one that appeared at ``target`` while the output was
    being made (another run, the user): :class:`InputError` instead, and the temporary
    file is removed. ``mode``: the output's permissions (:func:`output_mode` when None).
    """
    target = Path(target)
    tmp = _temporary_beside(target)
    _MAKING[tmp] = target
    try:
        yield tmp
        _finish(tmp, output_mode(target, mode, replace=replace))
        move_in(tmp, target, replace=replace)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        _MAKING.pop(tmp, None)


@contextlib.contextmanager
def scratch_file(tmp: Path, suffix: str) -> Iterator[Path]:
    """A scratch path beside the temporary ``tmp`` of :func:`atomic_output` (its name plus
    ``suffix``, so a stale one is cleaned up with ``tmp``'s group), removed at the end;
    messages about it name the output ``tmp`` will become (:func:`shown_path`)."""
    scratch = tmp.with_name(tmp.name + suffix)
    _MAKING[scratch] = tmp
    try:
        yield scratch
    finally:
        _MAKING.pop(scratch, None)
        with contextlib.suppress(OSError):
            scratch.unlink()


#: the permissions of a new output whose caller names none
NEW_FILE_MODE = 0o644


def output_mode(target: Path, mode: int | None, *, replace: bool) -> int:
    """The permissions an output gets: ``mode`` when the caller names one (a key: 0o600),
    else those of the regular file it replaces (as ``sed -i`` keeps them: a file made
    read-only stays read-only), else :data:`NEW_FILE_MODE`."""
    if mode is not None:
        return mode
    if replace:
        with contextlib.suppress(OSError):
            st = target.lstat()
            if stat.S_ISREG(st.st_mode):
                return stat.S_IMODE(st.st_mode) & 0o777
    return NEW_FILE_MODE


def _finish(tmp: Path, mode: int) -> None:
    with tmp.open("rb+") as f:  # before the chmod: a read-only mode (0444) may be kept
        os.fsync(f.fileno())
    tmp.chmod(mode)


def staged_file(target: str | os.PathLike[str], data: bytes, *, mode: int) -> Path:
    """``data`` written completely to a new temporary file beside ``target`` (uniquely
    named, as :func:`atomic_output`'s), for outputs that must all be ready before any is
    moved in with :func:`move_in`. The caller removes it if it is not moved in."""
    tmp = _temporary_beside(Path(target))
    try:
        tmp.write_bytes(data)
        _finish(tmp, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def move_in(tmp: Path, target: str | os.PathLike[str], *, replace: bool) -> None:
    """Rename the complete temporary ``tmp`` onto ``target`` (``replace=False``: only if
    nothing is there, atomically where the file system has hard links; else
    :class:`InputError`, and ``tmp`` stays for the caller to remove)."""
    _terminate.raise_if_requested()  # SIGTERM whose exception was lost on its way
    if replace:
        tmp.replace(target)
    else:
        _move_if_absent(tmp, Path(target))


#: the temporaries :func:`atomic_output` is writing now, and the outputs they will become
_MAKING: dict[Path, Path] = {}


def shown_path(path: str | os.PathLike[str]) -> Path:
    """The path to name in a message about ``path``: the output it will become when it is
    a temporary file being written (a library function handed one need not know), else
    ``path`` itself."""
    p = Path(path)
    while p in _MAKING:
        p = _MAKING[p]
    return p


def _move_if_absent(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` unless ``target`` exists, atomically where the file
    system has hard links (a link fails on an existing name; the rename would not)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise _refused(target) from None
    except OSError:  # no hard links here: check, then rename (a narrow race remains)
        refuse_if_taken(target)
        tmp.replace(target)
        return
    tmp.unlink()


def taken(target: Path) -> bool:
    """Whether anything is at ``target``: a file, a folder, or a link (a dangling one too)."""
    return target.exists() or target.is_symlink()


def refuse_if_taken(target: Path) -> None:
    """Raise :class:`InputError` if anything (a file, a link) is at ``target`` now: an
    output that appeared while this one was being made."""
    if taken(target):
        raise _refused(target)


def refuse_existing(target: Path) -> None:
    """Before any work: :class:`InputError` if something is at ``target`` already, for a
    caller that must not replace it (``overwrite=False``)."""
    if taken(target):
        raise InputError(f"{target} exists already; not replaced: write elsewhere, or allow "
                         "replacing it (--force; overwrite=True in Python)")


def _refused(target: Path) -> InputError:
    """The error for an output that appeared while it was being made."""
    return InputError(f"{target} exists (it appeared while the output was being made); not "
                      "replaced: write elsewhere, or use --force to replace it")


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, *,
                       mode: int | None = None, replace: bool = True) -> None:
    """Write ``data`` to ``target`` atomically (``replace``: as :func:`atomic_output`)."""
    with atomic_output(target, mode=mode, replace=replace) as tmp:
        tmp.write_bytes(data)


def _numbered(path: Path, k: int) -> str:
    """``STEM-k.EXT``, the stem cut (whole characters) so that the name fits 255 bytes."""
    end = f"-{k}{path.suffix}"
    room = _NAME_MAX - len(os.fsencode(end))
    stem = os.fsencode(path.stem)
    return (path.stem if len(stem) <= room else stem[:room].decode("utf-8", "ignore")) + end


def write_beside_if_taken(target: str | os.PathLike[str], data: bytes, *,
                          mode: int = NEW_FILE_MODE) -> Path:
    """Write ``data`` to ``target``, or, if a file appeared there while the work that made
    ``data`` ran, to the first free ``NAME-2.EXT``, ``NAME-3.EXT`` … beside it: for outputs
    of long work (a batch scan), which a refusal would throw away. Returns the path
    written."""
    path = Path(target)
    tmp = staged_file(path, data, mode=mode)  # written once, moved in under a free name
    try:
        for k in range(1, 1000):
            candidate = path if k == 1 else path.with_name(_numbered(path, k))
            try:
                move_in(tmp, candidate, replace=False)
            except InputError:
                if not taken(candidate):
                    raise
                continue
            return candidate
        raise InputError(f"cannot write {path}: it and 998 names beside it are taken")
    finally:
        tmp.unlink(missing_ok=True)


def move_in_together(outputs: Sequence[tuple[Path, bytes]], *, replace: bool,
                     mode: int | None = None) -> None:
    """Write several outputs that belong together (report pages and their index, an audit
    and its signature): each is staged complete under its own temporary name before any
    is moved in, in the order given. ``replace=False``: if any is taken, before or while
    they are moved in, :class:`InputError`, and those of this call already moved in are
    removed again, so that no half set stays. Temporaries never outlive the call."""
    staged: list[tuple[Path, Path]] = []
    moved: list[Path] = []
    try:
        for path, data in outputs:
            staged.append((staged_file(path, data,
                                       mode=output_mode(path, mode, replace=replace)), path))
        if not replace:
            for _, path in staged:
                refuse_if_taken(path)
        for tmp, path in staged:
            move_in(tmp, path, replace=replace)
            moved.append(path)
    except BaseException:
        if not replace:
            for path in moved:
                path.unlink(missing_ok=True)
        raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
