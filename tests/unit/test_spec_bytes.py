"""Bytes that are not UTF-8 text, or characters YAML refuses, are one spec error with file:line,
never a traceback (a UnicodeDecodeError or a YAML ReaderError used to escape)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("content", "line", "problem"), [
    (b"containers:\n  a: {}\n  b: {hostname: caf\xe9}\n", 3, "not UTF-8: byte 0xe9"),
    (b"\xff\xfecontainers: {}\n", 1, "not UTF-8: byte 0xff"),
    (b"containers:\n  a: {hostname: x\x01y}\n", 2, "not valid YAML: character 0x0001 is not allowed (column 18)"),
])
def test_undecodable_or_unreadable_text_is_a_spec_error(tmp_path: Path, content: bytes, line: int | None,
                                                         problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as caught:
        load_scenario(path)
    assert caught.value.line == line and problem in str(caught.value)


def test_a_run_on_such_a_file_ends_with_one_line_and_exit_10(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"containers:\n  a: {hostname: caf\xe9}\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "bad.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 10, result.stdout + result.stderr
    assert "bad.yaml:2: (file): not UTF-8: byte 0xe9" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
