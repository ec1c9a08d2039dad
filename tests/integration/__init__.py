"""Integration tests: a real `pigeon serve` process, real sockets."""

from __future__ import annotations
