"""Write files and folders under a unique temporary name and rename them into place only when complete.

New files get the permissions the umask allows (not ``mkstemp``'s 0600); a replaced file keeps its mode.
Temporary names are made by ``mkstemp``/``mkdtemp``, so they never collide with a user's files, and
parent folders created on the way are removed again if the write fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pyserini_qpeft.errors import InputError

IOHook = Callable[[str, Path], None]
_io_hook: IOHook | None = None


def set_io_hook(hook: IOHook | None) -> IOHook | None:
    """Call ``hook(event, path)`` before each write ("write", "mkdir") and rename ("rename") done here; returns the
    previous hook. Crash tests use it to stop a process at every point of a save."""
    global _io_hook
    previous, _io_hook = _io_hook, hook
    return previous


def io_event(event: str, path: Path) -> None:
    """Report a write or rename to the hook set by :func:`set_io_hook` (if any)."""
    if _io_hook is not None:
        _io_hook(event, path)


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable before the next step (where the platform allows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_parents(path: Path) -> list[Path]:
    """Create the missing parent folders of ``path``; returns those created, deepest last."""
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{path}: {parent} is a file, not a folder")
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        created.append(folder)
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders we created (deepest first) if they are still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def naming_errors(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise an OSError without a file name (a full disk met by ``write`` or ``fsync``: ENOSPC) as the same
    error naming ``path``, so that its one-line message says which file could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc


def _file_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it to ``path``, on error remove it.

    The file gets the umask's permissions, or the replaced file's mode. An OSError that names no file (a full
    disk) is raised naming ``path`` (:func:`naming_errors`).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file path")
    created = make_parents(path)
    try:
        io_event("write", path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except BaseException:
        remove_empty(created)
        raise
    try:
        with naming_errors(path):
            os.fchmod(fd, _file_mode(path))
            with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            io_event("rename", path)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        remove_empty(created)
        raise


@contextlib.contextmanager
def staging_directory(target: str | os.PathLike) -> Iterator[Path]:
    """A new, uniquely named hidden folder beside ``target`` (umask permissions), deleted at the end unless
    the caller has moved it away; parent folders created for it are removed again on error."""
    target = Path(target)
    created = make_parents(target)
    try:
        io_event("mkdir", target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except BaseException:
        remove_empty(created)
        raise
    try:
        with naming_errors(target):
            os.chmod(tmp, 0o777 & ~current_umask())
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_empty(created)
        raise
    shutil.rmtree(tmp, ignore_errors=True)  # still there when the caller did not move it


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success move it to ``path``, on error delete it.

    ``path`` must not exist yet (or be an empty folder). The folder gets the umask's permissions.
    """
    path = Path(path)
    with staging_directory(path) as tmp:
        yield tmp
        io_event("rename", path)
        os.replace(tmp, path)


def swap_directory(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``, replacing the folder there (the caller proved it is ours).

    The old folder is first renamed to a unique hidden name beside it, then deleted.
    """
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, trash)  # replaces the empty placeholder folder
    os.replace(new, target)
    shutil.rmtree(trash, ignore_errors=True)
