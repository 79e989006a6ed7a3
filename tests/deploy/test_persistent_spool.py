"""Issue 21, finding 5 in Kubernetes: the Deployment's audit spool is an emptyDir, so rows spooled
during a database outage are lost on a rollout. `overlays/persistent-spool` runs the service as a
StatefulSet whose pods each keep a PersistentVolumeClaim for the spool. Rendered offline (the
subset renderer; `kubectl kustomize` too where installed, in test_kubernetes_manifests.py) and
checked for what keeps the rows: the claim, where it is mounted, that it outlives pods, scale-in and
the StatefulSet, that the service's 0700 folder survives a remount, and that /health no longer
calls the spool ephemeral. The other overlays keep stating the loss.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.deploy.test_kubernetes_manifests import deployment_parts, env_of, mount_for, objects_of, one

PERSISTENT = "overlays/persistent-spool"


def _spool_dir(container: dict[str, Any]) -> str:
    return env_of(container)["CDS_AUDIT_SPOOL_DIR"]["value"]


def _spool_mount(container: dict[str, Any]) -> dict[str, Any]:
    """The volume mount holding the spool folder (the longest mount path above it)."""
    spool = PurePosixPath(_spool_dir(container))
    return max(
        (m for m in container["volumeMounts"] if spool.is_relative_to(m["mountPath"])),
        key=lambda m: len(m["mountPath"]),
    )


def test_the_persistent_overlay_runs_a_stateful_set_and_no_deployment() -> None:
    assert not objects_of(PERSISTENT, "Deployment")
    workload, _, _ = deployment_parts(PERSISTENT)
    assert workload["kind"] == "StatefulSet"
    assert "strategy" not in workload["spec"] and workload["spec"]["updateStrategy"]["type"] == "RollingUpdate"
    headless = next(
        s for s in objects_of(PERSISTENT, "Service") if s["metadata"]["name"] == workload["spec"]["serviceName"]
    )
    assert headless["spec"]["clusterIP"] == "None"
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in headless["spec"]["selector"].items())
    assert one(PERSISTENT, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert one(PERSISTENT, "Namespace")["metadata"]["name"] == "cds"  # production underneath


def test_each_pod_keeps_its_spool_on_a_claim_of_its_own() -> None:
    workload, pod, container = deployment_parts(PERSISTENT)
    mount = _spool_mount(container)
    assert mount["mountPath"] != "/tmp", "the spool has a volume of its own"
    assert mount["name"] not in {v["name"] for v in pod["volumes"]}, (
        "no emptyDir (or other pod volume) shadows the claim"
    )
    (claim,) = [c for c in workload["spec"]["volumeClaimTemplates"] if c["metadata"]["name"] == mount["name"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # one pod's, never shared (process ids repeat)
    size = claim["spec"]["resources"]["requests"]["storage"]
    assert size.endswith("Gi") and int(size[:-2]) >= 1  # far above CDS_AUDIT_SPOOL_MAX_BYTES (64 MiB)
    # rows of a scaled-in or deleted StatefulSet's pods wait on their claims
    assert workload["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_the_private_spool_folder_survives_a_remount() -> None:
    """fsGroup's recursive relabel would make the existing 0700 folder group-writable on every
    mount, and the service refuses to start on such a folder."""
    _, pod, container = deployment_parts(PERSISTENT)
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    spool = PurePosixPath(_spool_dir(container))
    assert spool != PurePosixPath(_spool_mount(container)["mountPath"]), "the folder is inside the volume, not its root"


@pytest.mark.parametrize("name", ["base", "overlays/production"])
def test_the_deployments_keep_stating_the_loss(name: str) -> None:
    _, pod, container = deployment_parts(name)
    assert env_of(container)["CDS_AUDIT_SPOOL_EPHEMERAL"]["value"] == "true"
    _, volume = mount_for(container, pod, _spool_dir(container))
    assert "emptyDir" in volume


def test_health_no_longer_calls_the_persistent_spool_ephemeral() -> None:
    _, _, container = deployment_parts(PERSISTENT)
    assert env_of(container)["CDS_AUDIT_SPOOL_EPHEMERAL"]["value"] == "false"


def test_a_rolling_update_spreads_each_revision_of_the_stateful_set() -> None:
    _, pod, _ = deployment_parts(PERSISTENT)
    for constraint in pod["topologySpreadConstraints"]:
        assert constraint["matchLabelKeys"] == ["controller-revision-hash"]  # no pod-template-hash on them
