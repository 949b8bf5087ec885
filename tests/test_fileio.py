"""Atomic writes: the file appears whole, with the mode a plain ``open()`` would give it."""

from __future__ import annotations

import os
import stat

import pytest

from frontlines.inference import fileio


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_mode_not_mkstemps_0600(tmp_path, monkeypatch, umask, expected):
    monkeypatch.setattr(fileio, "_UMASK", umask)
    fileio.atomic_write_text(tmp_path / "report.html", "<p>ok</p>")
    fileio.write_jsonl_atomic(tmp_path / "p.jsonl", [{"id": "a"}])
    for name in ("report.html", "p.jsonl"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl", "report.html"]  # no temporary left


def test_the_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert fileio._read_umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(before)
