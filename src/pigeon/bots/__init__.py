"""Bots and integrations: bot accounts, outgoing and incoming webhooks (docs/bots.md)."""
