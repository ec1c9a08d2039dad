"""Logs go through a queue to a writer thread and keep their fields, traceback and
trace ids."""

from __future__ import annotations

import logging

import orjson
import pytest

from pigeon.logs import configured


def test_records_arrive_whole_through_the_writer_thread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = logging.getLogger("pigeon.test")
    with configured("INFO", "node-1", lambda: ("a" * 32, "b" * 16)):
        log.info("hello %s", "world", extra={"user": "u_1"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    hello, failed = lines
    assert hello["event"] == "hello world"
    assert hello["user"] == "u_1"
    assert hello["node"] == "node-1"
    assert (hello["trace_id"], hello["span_id"]) == ("a" * 32, "b" * 16)
    assert failed["event"] == "failed"
    assert "ValueError: boom" in failed["exc"]


def test_no_trace_fields_outside_a_span(capsys: pytest.CaptureFixture[str]) -> None:
    with configured("INFO", "node-1", lambda: None):
        logging.getLogger("pigeon.test").warning("plain")
    (line,) = capsys.readouterr().err.splitlines()
    assert "trace_id" not in orjson.loads(line)
