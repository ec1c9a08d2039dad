"""The domain: accounts, conversations, messaging. Talks only to the store and broker ports."""

from __future__ import annotations
