"""The Kubernetes manifests under deploy/kubernetes/, rendered and checked offline.

Every kustomization (the base and each overlay) is rendered with the pure-Python subset in
`kustomize_subset` (CI has no kubectl; see deploy/kubernetes/README.md), every object is validated
against the Kubernetes OpenAPI schemas shipped in the `kubernetes-validate` package (strict: an
unknown or misspelt field fails), and the properties a reviewer looks for are asserted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from cds_service.auth.clients import parse_clients
from cds_service.settings import Settings, load_settings
from tests.deploy.kustomize_subset import KustomizeSubsetError, config_map_hash, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = ["base", *sorted(str(p.parent.relative_to(K8S)) for p in K8S.glob("overlays/*/kustomization.yaml"))]
# The oldest Kubernetes release the manifests are written for (topologySpreadConstraints
# matchLabelKeys and PDB unhealthyPodEvictionPolicy are on by default from 1.27), and the newest
# whose schemas the installed kubernetes-validate ships.
K8S_VERSIONS = ["1.29.0", latest_version()]

UID = 10001
SECRET_ENV = {"CDS_DATABASE_URL", "CDS_PATIENT_HASH_SECRET", "CDS_ADMIN_TOKEN", "CDS_REDIS_URL"}
SECRET_SETTINGS = {"database_url", "patient_hash_secret", "admin_token", "redis_url"}
SERVE_COMMAND = ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080", "--config", "/etc/cds/config.toml"]

_RENDERED: dict[str, list[dict[str, Any]]] = {}


def rendered(name: str) -> list[dict[str, Any]]:
    if name not in _RENDERED:
        _RENDERED[name] = render(K8S / name)
    return _RENDERED[name]


def objects_of(name: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in rendered(name) if o["kind"] == kind]


def one(name: str, kind: str) -> dict[str, Any]:
    (obj,) = objects_of(name, kind)
    return obj


WORKLOAD_KINDS = ("Deployment", "StatefulSet")  # a Deployment, or a StatefulSet (overlays/persistent-spool)


def deployment_parts(name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the workload: Deployment or StatefulSet, pod spec, the cds-service container)."""
    (deployment,) = [o for o in rendered(name) if o["kind"] in WORKLOAD_KINDS]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "cds-service"]
    return deployment, pod, container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def mount_for(container: dict[str, Any], pod: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The volume mount holding `path` (the longest mount path that is a prefix) and its volume."""
    candidates = [
        m
        for m in container["volumeMounts"]
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert candidates, f"{path} is on no volume (the root file system is read-only)"
    mount = max(candidates, key=lambda m: len(m["mountPath"]))
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return mount, volume


# --- rendering and schemas --------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_object_matches_the_kubernetes_schema(name: str, version: str) -> None:
    errors = []
    for obj in rendered(name):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_base_has_the_required_objects() -> None:
    kinds = sorted(o["kind"] for o in rendered("base"))
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    assert {o["apiVersion"] for o in rendered("base") if o["kind"] == "HorizontalPodAutoscaler"} == {"autoscaling/v2"}
    assert {o["apiVersion"] for o in rendered("base") if o["kind"] == "PodDisruptionBudget"} == {"policy/v1"}


def _kustomize_major() -> int | None:
    """Major version of the kustomize built into the installed kubectl (None: no kubectl, or too old to say)."""
    if shutil.which("kubectl") is None:
        return None
    result = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True, timeout=30, check=False)
    match = re.search(r"Kustomize Version: v(\d+)", result.stdout)
    return int(match.group(1)) if match else None


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_python_rendering_equals_kubectl_kustomize(name: str) -> None:
    major = _kustomize_major()
    if major is None or major < 5:
        pytest.skip("no kubectl with kustomize v5 here (CI: Debian has none); the subset renderer is used")
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    reference = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in rendered(name)}
    assert sorted(ours) == sorted(reference)
    for key, obj in reference.items():
        assert ours[key] == obj, key


def test_the_config_map_hash_is_kustomizes() -> None:
    # `kubectl kustomize` (kustomize v5.5.0) names a generated ConfigMap holding c.toml = "a = 1\n" x-58t6bc6mh4.
    assert config_map_hash({"data": {"c.toml": "a = 1\n"}}) == "58t6bc6mh4"


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n"


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [cm.yaml]\ncommonLabels: {a: b}\n", "not implemented"),
        (
            "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: c}\n    patch: 'data: {a: c}'\n",
            "strategic",
        ),
        (
            "resources: [cm.yaml]\npatches:\n  - target: {kind: Service, name: c}\n    patch: '[]'\n",
            "matches no object",
        ),
        (
            "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: c}\n"
            "    patch: '[{op: test, path: /data/a, value: x}]'\n",
            "test failed",
        ),
        ("resources: [missing.yaml]\n", "not found"),
        (
            "resources: [cm.yaml]\npatches:\n  - target: {kind: ConfigMap, name: c}\n"
            "    patch: '[{op: replace, path: /kind, value: Secret}]'\n",
            "allowKindChange",
        ),
    ],
)
def test_the_subset_renderer_refuses_what_it_does_not_implement(
    tmp_path: Path, kustomization: str, message: str
) -> None:
    _write(tmp_path, {"kustomization.yaml": kustomization, "cm.yaml": CM})
    with pytest.raises(KustomizeSubsetError, match=message):
        render(tmp_path)


# --- the pod: security, probes, ports, command, volumes ----------------------------------------


def test_the_uid_is_the_dockerfiles() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"--uid {UID}\b", dockerfile) and re.search(rf"--gid {UID}\b", dockerfile)
    assert re.search(r"^USER cds:cds$", dockerfile, re.MULTILINE)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_container_is_non_root_with_a_read_only_root(name: str) -> None:
    for obj in rendered(name):
        pod = obj.get("spec", {}).get("template", {}).get("spec")
        if pod is None:
            continue
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["runAsUser"] == UID and pod_security["runAsGroup"] == UID
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v]
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, container["name"]
            assert security["allowPrivilegeEscalation"] is False, container["name"]
            assert security["capabilities"] == {"drop": ["ALL"]}, container["name"]
            assert security.get("runAsNonRoot", True) is True and security.get("runAsUser", UID) == UID
            assert security.get("privileged", False) is False
            assert security.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}
            resources = container["resources"]
            assert set(resources["requests"]) >= {"cpu", "memory"} and set(resources["limits"]) >= {"cpu", "memory"}


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_service_account_mounts_no_token(name: str) -> None:
    account = one(name, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    _, pod, _ = deployment_parts(name)
    assert pod["serviceAccountName"] == account["metadata"]["name"]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_probes_point_at_the_health_endpoints(name: str) -> None:
    _, _, container = deployment_parts(name)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "metrics": 9100}
    expected = {"livenessProbe": "/health/live", "readinessProbe": "/health/ready", "startupProbe": "/health/live"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == 8080, probe
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30  # migrations at first start


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_command_and_the_mounted_config_file(name: str) -> None:
    _, pod, container = deployment_parts(name)
    assert container["command"] == SERVE_COMMAND
    assert "args" not in container
    config_path = SERVE_COMMAND[SERVE_COMMAND.index("--config") + 1]
    mount, volume = mount_for(container, pod, config_path)
    assert mount.get("readOnly") is True
    config_maps = {c["metadata"]["name"]: c for c in objects_of(name, "ConfigMap")}
    data = config_maps[volume["configMap"]["name"]]["data"]
    key = mount.get("subPath") or Path(config_path).relative_to(mount["mountPath"]).as_posix()
    assert key in data


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_writable_paths_are_empty_dirs_and_metrics_have_their_port(name: str) -> None:
    deployment, pod, container = deployment_parts(name)
    env = env_of(container)
    for path in ["/tmp", env["PROMETHEUS_MULTIPROC_DIR"]["value"], env["MPLCONFIGDIR"]["value"]]:
        _, volume = mount_for(container, pod, path)
        assert "emptyDir" in volume, path
    assert env["PROMETHEUS_MULTIPROC_DIR"]["value"] == "/tmp/prometheus"
    metrics_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
    assert env["CDS_METRICS_PORT"]["value"] == str(metrics_port)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics_port)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_graceful_drain(name: str) -> None:
    _, pod, container = deployment_parts(name)
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and 1 <= int(sleep[1]) <= 15
    # the preStop sleep counts against the grace period: leave the service 30 s to drain and flush
    assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + 30
    # and the service's own bounds (settings file) fit in it, with a few seconds to spare
    settings = tomllib.loads((ROOT / "deploy" / "kubernetes" / "base" / "config.toml").read_text())
    drain = sum(settings[k] for k in ("drain_delay_seconds", "drain_timeout_seconds", "audit_flush_timeout_seconds"))
    assert int(sleep[1]) + drain + 5 <= pod["terminationGracePeriodSeconds"]
    env = env_of(container)
    assert env["CDS_METRICS_HOST"]["value"] == "0.0.0.0"  # Prometheus scrapes from another pod


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_pods_are_spread_across_nodes(name: str) -> None:
    deployment, pod, _ = deployment_parts(name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    by_node = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node and by_node[0]["maxSkew"] == 1
    assert selects(by_node[0]["labelSelector"]["matchLabels"], labels)
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)


def test_production_spreads_by_node_as_a_hard_rule() -> None:
    _, pod, container = deployment_parts("overlays/production")
    by_node = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node[0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert re.fullmatch(r"[a-z0-9.-]+(:[0-9]+)?/[a-z0-9/._-]+(:[\w.-]+|@sha256:[0-9a-f]{64})", container["image"])


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_secrets_are_references_only(name: str) -> None:
    assert not objects_of(name, "Secret"), "Secrets are created out of band, never rendered from git"
    _, pod, container = deployment_parts(name)
    env = env_of(container)
    for variable in SECRET_ENV:
        assert "value" not in env[variable], variable
        assert env[variable]["valueFrom"]["secretKeyRef"]["name"] == "cds-service-secrets"
    for variable in ("CDS_DATABASE_URL", "CDS_PATIENT_HASH_SECRET"):
        assert env[variable]["valueFrom"]["secretKeyRef"].get("optional", False) is False, variable
    for variable, spec in env.items():
        if re.search(r"SECRET|TOKEN|PASSWORD|DATABASE_URL|REDIS_URL", variable):
            assert "value" not in spec, variable
    # the clients file comes from a Secret volume
    _, volume = mount_for(container, pod, env["CDS_CLIENTS_FILE"]["value"])
    assert volume["secret"]["secretName"] == "cds-service-clients"


def test_no_secret_values_in_the_kustomized_files() -> None:
    for path in K8S.rglob("*"):
        if path.is_file() and "examples" not in path.parts and path.suffix in {".yaml", ".toml", ".yml"}:
            text = path.read_text()
            assert "kind: Secret" not in text, path
            assert not re.search(r"stringData|://[^/\s:@]+:[^@\s]+@", text), path  # no credentials in URLs


def test_the_example_secrets_match_the_references_and_are_not_deployed() -> None:
    examples = [doc for doc in yaml.safe_load_all((K8S / "examples" / "secrets.example.yaml").read_text()) if doc]
    for doc in examples:
        kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)
    keys = {(d["metadata"]["name"], k) for d in examples for k in d["stringData"]}
    _, _, container = deployment_parts("base")
    references = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert references <= keys
    clients_secret = next(d for d in examples if d["metadata"]["name"] == "cds-service-clients")
    clients_file = Path(env_of(container)["CDS_CLIENTS_FILE"]["value"]).name
    document = tomllib.loads(clients_secret["stringData"][clients_file])
    assert parse_clients(document, Path("/etc/cds/clients"))  # the example is a valid clients file
    for kustomization in K8S.rglob("kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            assert "examples" not in (kustomization.parent / entry).resolve().parts, kustomization


# --- settings file -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_config_file_holds_real_settings_only(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pod, container = deployment_parts(name)
    _, volume = mount_for(container, pod, "/etc/cds/config.toml")
    config_map = next(c for c in objects_of(name, "ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"])
    text = config_map["data"]["config.toml"]
    document = tomllib.loads(text)
    # Settings ignores unknown keys: a misspelt key would silently keep its default.
    unknown = set(document) - set(Settings.model_fields)
    assert not unknown, f"not settings of cds_service.settings.Settings: {sorted(unknown)}"
    assert not set(document) & SECRET_SETTINGS, "secrets belong in Secrets"
    assert not set(document) & {"host", "port"}, "given on the command line"
    # ... and every value is accepted by the settings model
    for variable in list(os.environ):
        if variable.upper().startswith("CDS_"):
            monkeypatch.delenv(variable)
    path = tmp_path / "config.toml"
    path.write_text(text)
    settings = load_settings(path)
    assert settings.workers == 1 and settings.dev is False
    assert settings.public_base_url and settings.public_base_url.startswith("https://")


# --- Service, HPA, PDB, NetworkPolicy ----------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_service_hpa_and_pdb_target_the_deployment(name: str) -> None:
    deployment, _, _ = deployment_parts(name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"

    (service,) = [s for s in objects_of(name, "Service") if s["spec"].get("clusterIP") != "None"]  # not headless
    assert service["spec"]["type"] == "ClusterIP"
    assert selects(service["spec"]["selector"], labels)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]

    hpa = one(name, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": deployment["kind"],
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"

    pdb = one(name, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_network_policy_allows_only_what_the_service_needs(name: str) -> None:
    deployment, _, _ = deployment_parts(name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    policy = one(name, "NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert selects(policy["podSelector"]["matchLabels"], labels)

    def namespaces(rule: dict[str, Any]) -> set[str]:
        names = set()
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, peer  # whole namespaces, never ipBlocks
            names.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
        return names

    ingress: dict[int, set[str]] = {}
    for rule in policy["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits everyone"
        for port in rule["ports"]:
            ingress.setdefault(port["port"], set()).update(namespaces(rule))
    assert set(ingress) == {8080, 9100}
    assert ingress[9100] == {"monitoring"}
    assert "monitoring" not in ingress[8080] and ingress[8080]

    egress_ports = set()
    for rule in policy["egress"]:
        assert rule.get("to") and rule.get("ports"), "an egress rule without `to` or `ports` allows everything"
        for peer in rule["to"]:
            assert peer.get("ipBlock", {}).get("cidr") not in {"0.0.0.0/0", "::/0"}
        ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
        egress_ports |= ports
        if (("TCP", 443)) in ports:
            assert all(set(peer) == {"ipBlock"} for peer in rule["to"]), "FHIR servers are CIDR blocks"
    assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379), ("TCP", 443)}


def test_production_enforces_the_restricted_pod_security_standard() -> None:
    objects = rendered("overlays/production")
    namespace = one("overlays/production", "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"], obj["kind"]
    policy = one("overlays/production", "NetworkPolicy")["spec"]
    fhir = next(r for r in policy["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"])
    assert "192.0.2.0/24" not in [peer["ipBlock"]["cidr"] for peer in fhir["to"]], "the base placeholder is replaced"
