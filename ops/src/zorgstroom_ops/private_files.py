"""Files only their owner may read (secrets, tokens), written so that they never exist at the umask's mode."""

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its creation on (no moment at the umask's mode), replacing
    any file at `path` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    temporary.replace(path)
