"""Offline push: a durable outbox of notifications and the providers that deliver them."""
