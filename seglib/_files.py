"""Writing files so that a crash never leaves half of one behind (used by checkpoints and caches)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO
from collections.abc import Callable


def write_atomically(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    Readers see the old file or the new one, never a partial one; the temporary file is removed
    on failure. The result is readable by other users (0644), unlike ``mkstemp``'s 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
