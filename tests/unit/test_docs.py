"""The documentation lists every error code the server can return."""

from __future__ import annotations

from pathlib import Path

from pigeon.protocol.errors import ErrorCode

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_every_error_code_is_documented() -> None:
    text = PROTOCOL_DOC.read_text()
    missing = [code.name for code in ErrorCode if f"| {int(code)} |" not in text]
    assert not missing, f"add these codes to docs/protocol.md: {missing}"
