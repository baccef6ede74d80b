"""Replace a folder so that its path always holds the old or the new one, and clean up after a crash.

A build is written into a hidden sibling, ``.<name>.tmp-<pid>``, then put in place:

- where nothing is at the path, one ``rename``;
- on Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in one step, and the old build,
  now at the hidden path, is deleted;
- elsewhere (or on a filesystem that refuses the exchange), two renames: the old build to
  ``.<name>.old-<pid>``, the new one into place, then the old one is deleted. A crash between the
  two leaves no folder at the path, only the hidden old one.

A process killed at any of those steps leaves at most a hidden ``.tmp-``/``.old-`` folder beside the
path. :func:`recover`, run before the next build touches anything, puts a lone old build back at
the path and deletes the rest, and says what it did. It touches only siblings named by this
scheme whose process is gone, so it never removes a build that another process is writing.

``FTBUILD_CRASH_AT=<step>`` kills the process with SIGKILL at that step: tests use it to prove
the claims above at every step (:data:`CRASH_POINTS`); nothing else sets it.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import shutil
import signal
from pathlib import Path

__all__ = ["CRASH_POINTS", "crash_point", "hidden_sibling", "recover", "replace_dir"]

logger = logging.getLogger(__name__)

#: The steps ``FTBUILD_CRASH_AT`` can name, in the order a build passes them.
CRASH_POINTS = ("tmp_created", "data_written", "card_written", "before_swap", "after_swap",
                "between_renames", "after_renames")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")


def crash_point(step: str) -> None:
    """Die here, as ``kill -9`` would, when ``FTBUILD_CRASH_AT`` names this step (tests only)."""
    if os.environ.get("FTBUILD_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def hidden_sibling(target: Path, kind: str) -> Path:
    """``.<name>.<kind>-<pid>`` beside ``target``: where this process writes (tmp) or parks (old)."""
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where the system cannot."""
    if os.environ.get("FTBUILD_NO_EXCHANGE"):  # tests: take the two-rename way
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target``, deleting what was there (see the module doc)."""
    if not target.exists():
        tmp.rename(target)
        return
    crash_point("before_swap")
    if _exchange(tmp, target):
        crash_point("after_swap")  # the old build is at the hidden tmp path now
        shutil.rmtree(tmp)
        return
    old = hidden_sibling(target, "old")
    target.rename(old)
    crash_point("between_renames")
    try:
        tmp.rename(target)
    except OSError:
        old.rename(target)
        raise
    crash_point("after_renames")
    shutil.rmtree(old)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(target: Path) -> list[str]:
    """Undo what a killed build left beside ``target``; returns one line per thing done.

    A hidden old build with nothing at ``target`` goes back to ``target`` (the newest, when there
    are several); every other leftover of a finished process is deleted.
    """
    parent = target.parent
    if not parent.is_dir():
        return []
    found = []
    for entry in parent.iterdir():
        match = _LEFTOVER.match(entry.name)
        if match and match["name"] == target.name and entry.is_dir() and not _alive(int(match["pid"])):
            found.append((entry.stat().st_mtime, match["kind"], entry))
    done = []
    if not target.exists():
        olds = sorted((f for f in found if f[1] == "old"), key=lambda f: f[0])
        if olds:
            restored = olds[-1][2]
            restored.rename(target)
            found.remove(olds[-1])
            done.append(f"restored the previous build at {target} from {restored.name} "
                        "(a build was stopped while replacing it)")
    for _, _, entry in sorted(found, key=lambda f: f[2].name):
        shutil.rmtree(entry, ignore_errors=True)
        done.append(f"removed {entry.name} beside {target}, left by a build that was stopped")
    for line in done:
        logger.warning(line)
    return done
