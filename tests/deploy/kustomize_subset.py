"""Render the kustomizations under deploy/kubernetes/ in pure Python, for CI without kubectl.

CI runs on a fresh Debian machine with Debian packages and PyPI only. Debian's `kubernetes-client`
(1.20) embeds kustomize v2, which predates the `patches` field used here, and no kustomize is on
PyPI, so the tests render the manifests themselves. This module implements exactly the subset of
kustomize the manifests use and REFUSES anything else (an unknown kustomization field, a strategic
merge patch, a patch target matching nothing), so a manifest can never silently render differently
here than under `kubectl kustomize`. Where kubectl is installed, a test compares both renderings.

Supported: `resources` (files and directories), `namespace`, `images`, `configMapGenerator`
(`files`, `literals`, `behavior: create|replace|merge`, hashed name suffix as kustomize v5 computes
it) with the name rewritten in pod specs, and `patches` holding JSON 6902 operations selected by
`target` kind/name (with `options` allowKindChange / allowNameChange, refused without them as
kustomize does). Transformers run in kustomize's order: patches, namespace, images.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "configMapGenerator", "patches"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeSubsetError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize directory` would print (order aside)."""
    objects, generated = _build(Path(directory))
    _apply_name_hashes(objects, generated)
    return objects


def _kustomization(directory: Path) -> dict[str, Any]:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = directory / name
        if path.is_file():
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            unsupported = set(document) - SUPPORTED_FIELDS
            if unsupported:
                raise KustomizeSubsetError(f"{path}: fields not implemented by this renderer: {sorted(unsupported)}")
            return document
    raise KustomizeSubsetError(f"{directory}: no kustomization.yaml")


def _build(directory: Path) -> tuple[list[dict[str, Any]], set[int]]:
    """Objects of one kustomization, and the ids of the generated ConfigMaps (hash suffix pending)."""
    kustomization = _kustomization(directory)
    objects: list[dict[str, Any]] = []
    generated: set[int] = set()
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            sub_objects, sub_generated = _build(path)
            objects.extend(sub_objects)
            generated |= sub_generated
        elif path.is_file():
            objects.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
        else:
            raise KustomizeSubsetError(f"{directory}: resource {entry!r} not found")
    for generator in kustomization.get("configMapGenerator", []):
        _generate_config_map(directory, generator, objects, generated)
    for patch in kustomization.get("patches", []):
        _apply_patch(directory, patch, objects)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        _set_image(image, objects)
    _check_unique(directory, objects)
    return objects, generated


def _check_unique(directory: Path, objects: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str | None]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        if key in seen:
            raise KustomizeSubsetError(f"{directory}: {key} defined twice")
        seen.add(key)


def _generate_config_map(
    directory: Path, generator: dict[str, Any], objects: list[dict[str, Any]], generated: set[int]
) -> None:
    unsupported = set(generator) - {"name", "files", "literals", "behavior"}
    if unsupported:
        raise KustomizeSubsetError(f"{directory}: configMapGenerator fields not implemented: {sorted(unsupported)}")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, file_name = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = (directory / file_name).read_text(encoding="utf-8")
    for entry in generator.get("literals", []):
        key, _, value = entry.partition("=")
        data[key] = value
    name = generator["name"]
    behavior = generator.get("behavior", "create")
    existing = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    if behavior == "create":
        if existing:
            raise KustomizeSubsetError(f"{directory}: ConfigMap {name} exists; use behavior: replace or merge")
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
        objects.append(config_map)
        generated.add(id(config_map))
    elif behavior in ("replace", "merge"):
        if len(existing) != 1:
            raise KustomizeSubsetError(f"{directory}: ConfigMap {name} to {behavior} not found in the resources")
        if behavior == "replace":
            existing[0]["data"] = data
        else:
            existing[0].setdefault("data", {}).update(data)
    else:
        raise KustomizeSubsetError(f"{directory}: unknown configMapGenerator behavior {behavior!r}")


def _apply_patch(directory: Path, patch: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    unsupported = set(patch) - {"path", "patch", "target", "options"}
    if unsupported or "target" not in patch:
        raise KustomizeSubsetError(f"{directory}: only JSON 6902 patches with a `target` are implemented: {patch}")
    options = patch.get("options", {})
    if set(options) - {"allowKindChange", "allowNameChange"}:
        raise KustomizeSubsetError(f"{directory}: patch options not implemented: {options}")
    target = patch["target"]
    if set(target) - {"kind", "name", "group", "version"}:
        raise KustomizeSubsetError(f"{directory}: patch target selectors not implemented: {target}")
    text = (directory / patch["path"]).read_text(encoding="utf-8") if "path" in patch else patch["patch"]
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeSubsetError(f"{directory}: {patch}: a strategic merge patch; write JSON 6902 operations")
    matched = [o for o in objects if _matches(o, target)]
    if not matched:
        raise KustomizeSubsetError(f"{directory}: patch target {target} matches no object")
    for obj in matched:
        kind, name = obj["kind"], obj["metadata"]["name"]
        for operation in operations:
            _json_patch(obj, operation)
        # kustomize refuses a patch that changes an object's kind or name unless its options allow it
        if obj["kind"] != kind and not options.get("allowKindChange"):
            raise KustomizeSubsetError(f"{directory}: patch changes the kind of {kind}/{name}: allowKindChange")
        if obj["metadata"]["name"] != name and not options.get("allowNameChange"):
            raise KustomizeSubsetError(f"{directory}: patch changes the name of {kind}/{name}: allowNameChange")


def _matches(obj: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    return (
        target.get("kind", obj["kind"]) == obj["kind"]
        and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
        and target.get("group", group) == group
        and target.get("version", version) == version
    )


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeSubsetError(f"JSON pointer {path!r} must start with /")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _json_patch(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, remove, replace, test), in place."""
    op = operation.get("op")
    tokens = _pointer(operation["path"])
    parent: Any = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    value = copy.deepcopy(operation.get("value"))
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, value)
        elif op == "remove":
            del parent[index]
        elif op == "replace":
            parent[index] = value
        elif op == "test":
            if parent[index] != value:
                raise KustomizeSubsetError(f"test failed at {operation['path']}: {parent[index]!r} != {value!r}")
        else:
            raise KustomizeSubsetError(f"JSON patch op {op!r} not implemented")
        return
    if op == "add":
        parent[last] = value
    elif op == "remove":
        del parent[last]
    elif op == "replace":
        if last not in parent:
            raise KustomizeSubsetError(f"replace: {operation['path']} does not exist")
        parent[last] = value
    elif op == "test":
        if parent.get(last) != value:
            raise KustomizeSubsetError(f"test failed at {operation['path']}: {parent.get(last)!r} != {value!r}")
    else:
        raise KustomizeSubsetError(f"JSON patch op {op!r} not implemented")


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] in POD_TEMPLATE_KINDS:
        return [obj["spec"]["template"]["spec"]]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    return []


def _containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]


def _set_image(image: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    unsupported = set(image) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise KustomizeSubsetError(f"images fields not implemented: {sorted(unsupported)}")
    for obj in objects:
        for pod_spec in _pod_specs(obj):
            for container in _containers(pod_spec):
                reference = container["image"]
                name = reference.split("@", 1)[0]
                tag = ""
                if ":" in name.rsplit("/", 1)[-1]:
                    name, tag = name.rsplit(":", 1)
                if name != image["name"]:
                    continue
                name = image.get("newName", name)
                if "digest" in image:
                    container["image"] = f"{name}@{image['digest']}"
                elif "newTag" in image:
                    container["image"] = f"{name}:{image['newTag']}"
                else:
                    container["image"] = f"{name}:{tag}" if tag else name


def config_map_hash(config_map: dict[str, Any]) -> str:
    """The name suffix kustomize v5 gives a generated ConfigMap.

    sha256 of Go's json.Marshal of {"data", "kind", "name"}, first 10 hex digits with 0 1 3 a e
    mapped to g h k m t. kustomize v5 (kyaml) hashes the generated object with an empty name
    (checked against `kubectl kustomize` with kustomize v5.5.0 by the test suite).
    """
    encoded = json.dumps(
        {"data": config_map.get("data", {}), "kind": "ConfigMap", "name": ""},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go's encoder escapes these three for HTML safety; Python's does not.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _apply_name_hashes(objects: list[dict[str, Any]], generated: set[int]) -> None:
    renamed: dict[str, str] = {}
    for obj in objects:
        if id(obj) in generated:
            old = obj["metadata"]["name"]
            obj["metadata"]["name"] = renamed[old] = f"{old}-{config_map_hash(obj)}"
    for obj in objects:
        for pod_spec in _pod_specs(obj):
            for volume in pod_spec.get("volumes", []):
                if "configMap" in volume:
                    _rename(volume["configMap"], "name", renamed)
                for source in volume.get("projected", {}).get("sources", []):
                    if "configMap" in source:
                        _rename(source["configMap"], "name", renamed)
            for container in _containers(pod_spec):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("configMapKeyRef")
                    if ref:
                        _rename(ref, "name", renamed)
                for env_from in container.get("envFrom", []):
                    if "configMapRef" in env_from:
                        _rename(env_from["configMapRef"], "name", renamed)


def _rename(holder: dict[str, Any], key: str, renamed: dict[str, str]) -> None:
    if holder.get(key) in renamed:
        holder[key] = renamed[holder[key]]
