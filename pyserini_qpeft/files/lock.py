"""One writer per output: an advisory ``flock`` on a lock file beside it, released by the kernel when the
process dies, so a lock left by a killed run never blocks the next one.

The lock file (``<output>.lock``; rank R > 0 of a torchrun world takes ``<output>.rankR-of-W.lock``) holds the
holder's pid. It is created with its content in place (a temporary file hard-linked to the name), so it is
never empty; a file of that name that does not read as ours is refused, never overwritten. The holder
removes it when done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.atomic import make_parents, remove_empty

_BODY = re.compile(rb"pyserini-qpeft lock, pid (\d+) *\n")
_HELD: dict[Path, int] = {}  # lock files this process holds -> nesting depth (a nested output_lock is free)


def _body() -> bytes:
    return (f"pyserini-qpeft lock, pid {os.getpid()}".ljust(40) + "\n").encode()  # fixed width: rewritten in place


def lock_path(output: str | os.PathLike, rank: int = 0, processes: int = 1) -> Path:
    """The lock file of ``output`` for one rank (rank 0 and a lone process share ``<output>.lock``)."""
    output = Path(output)
    part = f".rank{rank}-of-{processes}" if rank else ""
    return output.with_name(f"{output.name}{part}.lock")


def _open(path: Path) -> int:
    """A read-write descriptor of the lock file, created (with our pid already in it) when missing."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise _not_ours(path) from None
            raise
        else:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise _not_ours(path)
            return fd
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.write(fd, _body())
            os.link(tmp, path)  # fails if another process created it meanwhile: then open theirs
            return fd
        except FileExistsError:
            os.close(fd)
        finally:
            os.unlink(tmp)


def _not_ours(path: Path) -> InputError:
    return InputError(
        f"{path}: exists and is not a pyserini-qpeft lock file; refusing to use it (remove it yourself, "
        "or choose another --output)"
    )


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, rank: int = 0, processes: int = 1) -> Iterator[Path]:
    """Hold the lock of ``output`` for the block; another process holding it is an InputError naming its pid.
    Re-entrant: a block nested in one that holds the same lock just runs."""
    path = lock_path(output, rank, processes)
    key = path.absolute()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    created = make_parents(path)
    try:
        while True:
            fd = _open(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                match = _BODY.fullmatch(os.pread(fd, 64, 0))
                os.close(fd)
                holder = f"pid {int(match.group(1))}" if match else "another process"
                raise InputError(
                    f"{output}: {holder} is writing it (lock {path}); wait for it to finish, or choose another --output"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            os.close(fd)  # its holder removed that file before we locked it: take the new one
        if not _BODY.fullmatch(os.pread(fd, 64, 0)):
            os.close(fd)
            raise _not_ours(path)
        os.pwrite(fd, _body(), 0)  # a lock left by a killed run is ours to take over
    except BaseException:
        remove_empty(created)
        raise
    _HELD[key] = 1
    try:
        yield path
    finally:
        del _HELD[key]
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)  # before unlocking, so a waiter sees it is gone and makes a new one
        os.close(fd)
        remove_empty(created)
