"""deploy/kubernetes: valid for a pinned Kubernetes, hardened, and true to the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from scripts.settings_table import SERVICES, env_names, settings_class

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
# The oldest minor version still supported upstream when this was written; the schemas
# ship inside kubernetes-validate (pinned in requirements-dev.lock): no network.
KUBERNETES_VERSION = "1.33.0"
GRPC_SERVICES = ("contacts", "consent", "campaigns")


def _render() -> list[dict[str, Any]]:
    """What `kustomize build` starts from: every document of every listed resource."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((BASE / resource).read_text()) if d]
    return documents


RESOURCES = _render()


def _of(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in RESOURCES if d["kind"] == kind}


def _image_uid() -> int:
    user = re.findall(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)[-1]
    return int(user)


def _listen_port(service: str) -> int:
    config = _of("ConfigMap")[f"crm-{service}"]["data"]
    return int(config[f"{service.upper()}_LISTEN"].rsplit(":", 1)[1])


def test_the_kustomization_lists_every_manifest_of_the_base() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


@pytest.mark.parametrize(
    "document", RESOURCES, ids=[f"{d['kind']}/{d['metadata']['name']}" for d in RESOURCES]
)
def test_each_manifest_validates_against_the_pinned_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_field_kubernetes_does_not_know_is_caught() -> None:
    deployment = dict(_of("Deployment")["contacts"])
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_service_has_a_deployment_a_service_and_a_disruption_budget() -> None:
    deployments, services, budgets = _of("Deployment"), _of("Service"), _of("PodDisruptionBudget")
    assert set(deployments) == set(services) == set(budgets) == set(SERVICES)
    assert not _of("Secret"), "secrets are referenced, never kept in the base"
    assert not _of("CronJob"), "the services schedule their own jobs under a leader lock"
    for name in SERVICES:
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        for selector in (services[name]["spec"]["selector"], budgets[name]["spec"]["selector"]):
            items = selector.get("matchLabels", selector)
            assert items.items() <= labels.items(), name


def test_deployments_run_non_root_read_only_limited_and_probed_on_the_health_service() -> None:
    for name, deployment in _of("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == _image_uid()
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["command"] == ["crm", "serve", name]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/run/secrets"} <= mounts
        port = _listen_port(name)
        assert port in {p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if name in GRPC_SERVICES:
                assert container[probe]["grpc"]["port"] == port, (name, probe)
            else:
                assert container[probe]["httpGet"]["path"] == "/healthz", (name, probe)
        (secret,) = [v["secret"] for v in pod["volumes"] if "secret" in v]
        assert secret["secretName"] == f"crm-{name}"
        assert container["envFrom"] == [{"configMapRef": {"name": f"crm-{name}"}}]


def test_config_maps_hold_only_settings_their_service_reads_and_no_secret_value() -> None:
    for name in SERVICES:
        data = _of("ConfigMap")[f"crm-{name}"]["data"]
        names = env_names(name)
        assert set(data) <= set(names) | {f"{n}_FILE" for n in names}, name
        for key in data:
            if re.search(r"SECRET|PASSWORD|DATABASE_URL|PRIVATE_KEY", key):
                assert key.endswith("_FILE") and data[key].startswith("/run/secrets/"), key
        private = {v for v in data.values() if "private" in v and "receipt" not in v}
        assert private == {f"/run/secrets/service-{name}-private.pem"}, name


def _callers() -> dict[str, set[str]]:
    """Who calls whom, read from the code: a service calls X when it has an X_target."""
    callers: dict[str, set[str]] = {name: set() for name in SERVICES}
    for caller in SERVICES:
        for field in settings_class(caller).model_fields:
            if field.endswith("_target"):
                callers[field.removesuffix("_target")].add(caller)
    return callers


def test_network_policies_let_in_exactly_the_callers_the_code_has() -> None:
    policies = _of("NetworkPolicy")
    callers = _callers()
    assert callers["contacts"] >= {"gateway", "campaigns"}  # the issue's minimum
    for name in GRPC_SERVICES:
        spec = policies[name]["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        (rule,) = [r for r in spec["ingress"] if "from" in r]
        allowed = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]
        }
        assert allowed == callers[name], name
        assert [p["port"] for p in rule["ports"]] == [_listen_port(name)]
        # Any other rule opens a port that is not the gRPC one (consent's inbound SMTP).
        for other in spec["ingress"]:
            if other is not rule:
                assert _listen_port(name) not in {p["port"] for p in other["ports"]}
