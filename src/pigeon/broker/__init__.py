"""Broker: routes pushes and control events to the nodes holding the recipients."""

from __future__ import annotations
