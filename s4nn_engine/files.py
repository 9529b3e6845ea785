"""Atomic writes of small text files (CSV, JSON) next to their final path."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the new one, never half.

    The text goes to a temporary file in the same folder, which is flushed to disk
    and then renamed over ``path``. The temporary file is created with mode 0o666
    less the umask, like any new file, so the result has the usual permissions.
    On any error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
