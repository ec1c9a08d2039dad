# Pigeon's container image: `make image` (or `docker build -t pigeon .`).
#
# Two stages. The first builds Pigeon's wheel and a wheel of every runtime dependency;
# the second installs those wheels with --no-index into a venv, so the final image has
# no compiler, no pip cache and nothing from the build but the installed packages.
# PYTHON_IMAGE is any Debian-based image with python3 (3.11+) and its venv module:
# python:3.11-slim-bookworm by default.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# A current pip builds sdist-only dependencies (e.g. http-ece) as wheels in isolation.
RUN python3 -m venv /opt/build && /opt/build/bin/pip install --no-cache-dir --upgrade pip wheel
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# A fixed, unprivileged uid/gid, so a mounted volume's ownership is predictable.
RUN groupadd --system --gid 10001 pigeon \
 && useradd --system --uid 10001 --gid pigeon --home-dir /var/lib/pigeon \
      --no-create-home --shell /usr/sbin/nologin pigeon \
 && install -d -o pigeon -g pigeon -m 0750 /var/lib/pigeon
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/pigeon \
 && /opt/pigeon/bin/pip install --no-cache-dir --no-index --find-links /wheels pigeon-im \
 && /opt/pigeon/bin/pip uninstall --yes pip
COPY deploy/container/healthcheck.py /opt/pigeon/healthcheck.py

# Every setting is PIGEON_<NAME> (docs/operations.md); these make a container
# reachable and keep its state on the volume. The JWT secret comes from
# PIGEON_JWT_SECRET or PIGEON_JWT_SECRET_FILE (a mounted secret); a single node
# without either generates one into the data directory.
ENV PATH=/opt/pigeon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIGEON_HOST=0.0.0.0 \
    PIGEON_PORT=8080 \
    PIGEON_DATA_DIR=/var/lib/pigeon
VOLUME ["/var/lib/pigeon"]
WORKDIR /var/lib/pigeon
USER pigeon:pigeon
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "/opt/pigeon/healthcheck.py"]
# SIGTERM starts the drain (sockets close with 1012, queued sends commit) and the
# process exits within PIGEON_SHUTDOWN_GRACE_S (10 s by default); exec form makes
# pigeon PID 1, so the signal reaches it rather than a shell.
STOPSIGNAL SIGTERM
CMD ["pigeon", "serve"]
