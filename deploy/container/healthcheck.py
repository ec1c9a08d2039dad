"""The image's HEALTHCHECK: GET /healthz on this container's own port.

Standard library only (it runs in the final image, every 15 s). Speaks HTTPS when the
node serves TLS itself (PIGEON_TLS_CERT set); the certificate names the public host,
not 127.0.0.1, so it is not verified here. Exit 0 healthy, 1 not.
"""

import os
import ssl
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PIGEON_PORT", "8080")
    tls = bool(os.environ.get("PIGEON_TLS_CERT"))
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    context = ssl._create_unverified_context() if tls else None  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as reply:  # noqa: S310
            return 0 if reply.status == 200 else 1
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
