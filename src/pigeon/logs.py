"""Structured logs: one JSON object per line on stderr, written off the event loop.

Code on the loop only puts records on a queue (``QueueHandler``); a listener thread
formats and writes them, so a slow or blocked stderr (a full pipe, a stalled
journald) delays log lines, never the loop. Records carry the trace and span id of
the span they were logged in, taken on the logging thread before the hand-off.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
from collections.abc import Callable, Iterator
from logging.handlers import QueueHandler, QueueListener
from typing import Any

import orjson

# Attributes every LogRecord has; anything else passed via ``extra`` is logged as a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": int(record.created * 1000),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "node": self.node_id,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


TraceIds = Callable[[], "tuple[str, str] | None"]


class TraceIdFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to records logged inside a span."""

    def __init__(self, ids: TraceIds) -> None:
        super().__init__()
        self._ids = ids

    def filter(self, record: logging.LogRecord) -> bool:
        current = self._ids()
        if current is not None:
            record.trace_id, record.span_id = current
        return True


class _Enqueue(QueueHandler):
    """Hands records over whole: the stock ``prepare`` would fold the traceback into the
    message text, where ``JsonFormatter`` wants it as its own field."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Arguments are merged now: they may be mutated after the hand-off.
        record.msg, record.args = record.getMessage(), None
        return record


@contextlib.contextmanager
def configured(level: str, node_id: str, trace_ids: TraceIds | None = None) -> Iterator[None]:
    """Route every log record through a queue to a writer thread for the ``with`` block;
    on exit the queue is drained, so the last lines (shutdown) are not lost."""
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(JsonFormatter(node_id))
    # Unbounded: a bound would make the loop block (or drop) exactly when output stalls;
    # the records waiting are small and the writer catches up when stderr drains.
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    enqueue = _Enqueue(records)
    if trace_ids is not None:
        enqueue.addFilter(TraceIdFilter(trace_ids))
    listener = QueueListener(records, writer, respect_handler_level=False)
    root = logging.getLogger()
    previous = root.handlers[:]
    root.handlers[:] = [enqueue]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "sqlalchemy", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    listener.start()
    try:
        yield
    finally:
        listener.stop()  # writes what is queued, then joins the thread
        root.handlers[:] = previous
