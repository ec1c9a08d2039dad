"""Search snippets: a window of a message's text with every match marked.

The format (docs/protocol.md, "Message search") is a list of plain-text strings;
the strings at odd indexes are the matches. Nothing in it is markup and nothing
is escaped: a client renders each string as text (a text node, never HTML) and
wraps the odd ones in its highlight. So a message containing ``<b>`` shows
``<b>``, and no client has an escaping rule to get wrong.
"""

from __future__ import annotations

#: Most characters of message text a snippet shows (ellipses not counted).
SNIPPET_MAX_CHARS = 120
#: Characters shown before the first match when the text is longer than the snippet.
SNIPPET_LEAD_CHARS = 30
ELLIPSIS = "…"
# Shown as one line: a break inside the window becomes a space (one for one, so
# positions found in the text stay valid).
_FLATTEN = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


def _folded(text: str) -> str:
    """Lower case where that keeps the length (``"İ".lower()`` has two characters),
    so an index into the folded text is an index into the original."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def find_matches(text: str, query: str) -> list[tuple[int, int]]:
    """Non-overlapping ``[start, end)`` ranges where ``query`` occurs, case-insensitively."""
    haystack, needle = _folded(text), _folded(query)
    found: list[tuple[int, int]] = []
    if not needle:
        return found
    start = haystack.find(needle)
    while start >= 0:
        found.append((start, start + len(needle)))
        start = haystack.find(needle, start + len(needle))
    return found


def snippet(text: str, query: str) -> list[str]:
    """``text`` around its first match of ``query``, as alternating plain/match parts.

    Always an odd number of strings: plain, match, plain, ..., plain (the plain ones
    may be empty). At most ``SNIPPET_MAX_CHARS`` characters of ``text``; an ellipsis
    marks each end where text was cut. A match that does not fit whole is left out.
    When the database matched by a case rule this one lacks, there is no match to
    mark and the snippet is the start of the text.
    """
    matches = find_matches(text, query)
    first = matches[0][0] if matches else 0
    start = max(0, first - SNIPPET_LEAD_CHARS)
    end = min(len(text), start + SNIPPET_MAX_CHARS)
    start = max(0, min(start, end - SNIPPET_MAX_CHARS))  # near the end: fill from the left
    parts: list[str] = []
    position = start
    for match_start, match_end in matches:
        if match_start < start or match_end > end:
            continue
        parts += [text[position:match_start], text[match_start:match_end]]
        position = match_end
    parts.append(text[position:end])
    if start > 0:
        parts[0] = ELLIPSIS + parts[0]
    if end < len(text):
        parts[-1] += ELLIPSIS
    return [part.translate(_FLATTEN) for part in parts]
