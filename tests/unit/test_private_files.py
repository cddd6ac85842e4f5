"""Secrets the ops commands write are their owner's alone from the moment the file exists."""

import json
import os
import stat
from pathlib import Path

from zorgstroom_ops import credentials
from zorgstroom_ops.private_files import write_private


def test_tokens_file_is_never_readable_by_others_even_under_an_open_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        _, tokens = credentials.write({"municipality-0034": ("municipality", "0034", [])}, tmp_path)
    finally:
        os.umask(previous)
    written = tmp_path / "tokens.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert json.loads(written.read_text()) == tokens


def test_rewriting_a_private_file_replaces_it_whole_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret.json"
    write_private(path, "first")
    os.chmod(path, 0o644)  # made readable by someone since
    write_private(path, "second")
    assert path.read_text() == "second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.json"]  # no temporary file left behind
