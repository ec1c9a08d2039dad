"""The rules /openapi.json declares match the rules the server applies.

A ``pattern`` the schema publishes must accept every value the server accepts, and
for ASCII text (where JSON Schema's regexes can say it all) exactly those.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.core.accounts import USERNAME_PATTERN, normalize_username
from pigeon.core.errors import CoreError
from pigeon.protocol.text import TextKind, check, schema_pattern

ASCII = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12)
ANY_TEXT = st.text(max_size=12)


def _trimmed_ok(value: str, minimum: int) -> bool:
    return len(value.strip()) >= minimum


@pytest.mark.parametrize("kind", list(TextKind))
@given(value=ASCII)
def test_for_ascii_the_pattern_is_the_rule(kind: TextKind, value: str) -> None:
    assert bool(re.search(schema_pattern(kind), value)) == (check(kind, value) is None)


@pytest.mark.parametrize("kind", list(TextKind))
@given(value=ANY_TEXT)
def test_the_pattern_accepts_everything_the_rule_accepts(kind: TextKind, value: str) -> None:
    if check(kind, value) is None:
        assert re.search(schema_pattern(kind), value)


@pytest.mark.parametrize("minimum", [0, 1, 2, 3, 5])
@given(value=ASCII)
def test_a_trimmed_minimum_is_declared_exactly(minimum: int, value: str) -> None:
    accepted = check(TextKind.LINE, value) is None and _trimmed_ok(value, minimum)
    assert bool(re.search(schema_pattern(TextKind.LINE, minimum), value)) == accepted


@given(value=st.text(alphabet=string.ascii_letters + string.digits + "_.- \u212a", max_size=40))
def test_the_username_pattern_is_the_username_rule(value: str) -> None:
    try:
        normalize_username(value)
        accepted = True
    except CoreError:
        accepted = False
    assert bool(re.search(USERNAME_PATTERN, value)) == accepted


def test_a_username_does_not_alias_through_lower_case() -> None:
    # KELVIN SIGN lower-cases to "k": it must not reach "kate"'s account.
    with pytest.raises(CoreError):
        normalize_username("\u212aate")
    assert normalize_username("Kate") == "kate"


def test_bodies_declare_the_core_limits() -> None:
    from pigeon.api.schemas import ReadIn, RegisterIn, SendIn
    from pigeon.core.accounts import MAX_DISPLAY_NAME, MAX_PASSWORD, MIN_PASSWORD
    from pigeon.core.bodies import CLIENT_KINDS
    from pigeon.protocol.cursors import MAX_CLIENT_INT

    register = RegisterIn.model_json_schema()["properties"]
    assert register["username"]["pattern"] == USERNAME_PATTERN
    assert (register["password"]["minLength"], register["password"]["maxLength"]) == (
        MIN_PASSWORD,
        MAX_PASSWORD,
    )
    assert register["display_name"]["anyOf"][0]["maxLength"] == MAX_DISPLAY_NAME
    assert SendIn.model_json_schema()["properties"]["kind"]["enum"] == list(CLIENT_KINDS)
    seq = ReadIn.model_json_schema()["properties"]["seq"]
    assert (seq["minimum"], seq["maximum"]) == (0, MAX_CLIENT_INT)
