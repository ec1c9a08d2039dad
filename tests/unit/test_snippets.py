"""Search snippets: plain parts with the matches at odd indexes, bounded, never markup."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pigeon.core.snippets import ELLIPSIS, SNIPPET_MAX_CHARS, find_matches, snippet


def test_every_match_is_marked_and_case_is_kept() -> None:
    assert snippet("Hello hello HELLO", "hello") == ["", "Hello", " ", "hello", " ", "HELLO", ""]


def test_cjk_without_word_breaks() -> None:
    assert snippet("我们明天见明天好", "明天") == ["我们", "明天", "见", "明天", "好"]


def test_markup_is_text_and_nothing_is_escaped() -> None:
    assert snippet("<b>hi</b> & more", "hi") == ["<b>", "hi", "</b> & more"]


def test_long_text_is_cut_around_the_first_match_with_ellipses() -> None:
    text = "x" * 500 + "needle" + "y" * 500
    parts = snippet(text, "needle")
    assert parts[1] == "needle"
    assert parts[0].startswith(ELLIPSIS)
    assert parts[-1].endswith(ELLIPSIS)
    shown = "".join(parts).replace(ELLIPSIS, "")
    assert len(shown) == SNIPPET_MAX_CHARS


def test_a_match_near_the_end_fills_the_snippet_from_the_left() -> None:
    text = "a" * 300 + "end"
    parts = snippet(text, "end")
    assert parts[-2:] == ["end", ""]
    assert len("".join(parts).replace(ELLIPSIS, "")) == SNIPPET_MAX_CHARS


def test_line_breaks_become_spaces() -> None:
    assert snippet("one\ntwo\tthree", "two") == ["one ", "two", " three"]


def test_length_changing_case_folds_keep_positions() -> None:
    # "İ".lower() has two characters; positions must still point into the original text.
    assert find_matches("İx İstanbul", "stan") == [(4, 8)]
    assert snippet("İİ abc", "ABC") == ["İİ ", "abc", ""]


def test_no_match_shows_the_start_of_the_text() -> None:
    assert snippet("Straße", "STRASSE") == ["Straße"]


@given(st.text(max_size=400), st.text(min_size=1, max_size=8))
def test_parts_are_odd_bounded_and_rebuild_a_piece_of_the_text(text: str, query: str) -> None:
    parts = snippet(text, query)
    assert len(parts) % 2 == 1
    shown = "".join(parts)
    assert len(shown.replace(ELLIPSIS, "")) <= SNIPPET_MAX_CHARS + shown.count(ELLIPSIS)
    for match in parts[1::2]:
        assert match.lower() == query.lower() or len(match) == len(query)
