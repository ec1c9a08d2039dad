"""`pigeon bench`: load generation against a real server, with reports and plots."""

from __future__ import annotations
