"""Where incoming webhooks are posted, and how that path appears in logs.

An incoming webhook's URL carries its secret (``{HOOK_PATH}/{id}/{secret}``), and
whoever reads the logs or the traces must not learn it: every place that records a
request path records ``loggable_path`` instead.
"""

from __future__ import annotations

#: Below the API prefix: ``{id}/{secret}``.
HOOK_PATH = "/api/v1/hooks"
_HIDDEN = "***"


def loggable_path(path: str) -> str:
    """``path`` with an incoming webhook's secret replaced by ``***``."""
    if not path.startswith(HOOK_PATH + "/"):
        return path
    parts = path[len(HOOK_PATH) + 1 :].split("/", 1)
    return f"{HOOK_PATH}/{parts[0]}/{_HIDDEN}" if len(parts) == 2 else path
