"""The documentation lists every error code the server can return and every setting."""

from __future__ import annotations

from pathlib import Path

from pigeon.config import Settings
from pigeon.protocol.errors import ErrorCode

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_every_error_code_is_documented() -> None:
    text = PROTOCOL_DOC.read_text()
    missing = [code.name for code in ErrorCode if f"| {int(code)} |" not in text]
    assert not missing, f"add these codes to docs/protocol.md: {missing}"


OPERATIONS_DOC = PROTOCOL_DOC.with_name("operations.md")


def _settings_rows() -> list[list[str]]:
    """The cells of each row of the table under "## Every setting" in docs/operations.md."""
    section = OPERATIONS_DOC.read_text().split("## Every setting", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `PIGEON_"):
            # "| a | b | c |" -> ["a", "b", "c"]; a stray "||" shows up as an empty cell
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_settings_table_rows_are_well_formed() -> None:
    rows = _settings_rows()
    assert rows, "no settings table found in docs/operations.md"
    bad = [row[0] for row in rows if len(row) != 3 or not all(row)]
    assert not bad, f"rows without exactly 3 non-empty cells (env, default, meaning): {bad}"


def test_settings_table_lists_every_setting() -> None:
    listed = {row[0].strip("`") for row in _settings_rows()}
    missing = [f"PIGEON_{name.upper()}" for name in Settings.model_fields]
    missing = [env for env in missing if env not in listed]
    assert not missing, f"add these settings to docs/operations.md: {missing}"
