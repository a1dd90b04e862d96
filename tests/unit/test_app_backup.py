"""Namespace backups (``kubefort backup namespace``) and their restore into another cluster
(``kubefort backup restore ID --to-context``), against two instances of the test API server.

The source holds a realistic application: the microservices-demo release manifests in ``shop``, and a
``db`` namespace with what the cluster sets on objects (uids, resourceVersions, managedFields, status,
a Service's clusterIP, a bound claim), what its controllers derive (ReplicaSets, their Pods, Endpoints,
Events, the root CA ConfigMap, a token Secret), a custom resource with its CRD, RBAC bound to a
ClusterRole, an Ingress of an IngressClass. The target is an empty second server (its bootstrap
ClusterRoles only). Kubernetes semantics checked: derived objects are skipped with why, cluster-scoped
dependencies are carried, server-set fields are not applied, owner references get the owner's new uid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.cli import cli
from kubefort.errors import UsageError
from kubefort.etcd.backup import app, ops
from kubefort.etcd.backup.keys import generate, write_key_file
from kubefort.etcd.backup.repo import Repository, blob_name
from kubefort.etcd.backup.storage import LocalStorage
from kubefort.loading.cluster import ClusterSource

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT.parent / "shared" / "corpus" / "GoogleCloudPlatform__microservices-demo" / "release"
DEMO_FILE = DEMO / "kubernetes-manifests.yaml"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "databases.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Database", "plural": "databases", "singular": "database", "listKind": "DatabaseList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def _md(name: str, ns: str | None = "db", **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, **extra}
    if ns:
        md["namespace"] = ns
    return md


def db_objects() -> list[dict[str, Any]]:
    server_set = {
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        "generation": 3,
        "selfLink": "/api/v1/x",
    }
    deploy_owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "u-dep", "controller": True}
    rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d9", "uid": "u-rs", "controller": True}
    db_owner = {"apiVersion": "example.com/v1", "kind": "Database", "name": "orders", "uid": "old-uid"}
    labels = {"app": "api"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "api", "image": "api:1.2"}]}}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _md("db", None, labels={"kubernetes.io/metadata.name": "db", "team": "db"}),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _md("api", annotations={app.LAST_APPLIED: "{}", "team": "db"}, **server_set),
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template},
            "status": {"readyReplicas": 2},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": _md("api-5d9", ownerReferences=[deploy_owner]),
            "spec": {"selector": {"matchLabels": labels}, "template": template},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _md("api-5d9-abcde", ownerReferences=[rs_owner]),
            "spec": {**template["spec"], "nodeName": "node-1"},
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": _md("debug"), "spec": {**template["spec"], "nodeName": "n2"}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _md("api"),
            "spec": {
                "selector": labels,
                "ports": [{"port": 80}],
                "clusterIP": "10.96.4.7",
                "clusterIPs": ["10.96.4.7"],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _md(
                "edge",
                annotations={app.LAST_APPLIED: '{"spec":{"type":"NodePort","ports":[{"port":443,"nodePort":30443}]}}'},
            ),
            "spec": {
                "type": "NodePort",
                "selector": labels,
                "ports": [{"port": 443, "nodePort": 30443}, {"port": 80, "nodePort": 31080}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _md("pg"),
            "spec": {"clusterIP": "None", "selector": {"app": "pg"}, "ports": [{"port": 5432}]},
        },
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": _md("api"), "subsets": []},
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": _md("api.1"),
            "involvedObject": {"kind": "Pod", "name": "api"},
            "reason": "Started",
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _md("kube-root-ca.crt"), "data": {"ca.crt": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _md("settings"), "data": {"LOG": "debug"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _md("orders-schema", ownerReferences=[db_owner]),
            "data": {"schema.sql": "create table orders ();"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _md("pg-password"),
            "type": "Opaque",
            "data": {"password": "c2VjcmV0LXZhbHVlLTQy"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _md("api-token", annotations={"kubernetes.io/service-account.name": "api"}),
            "type": "kubernetes.io/service-account-token",
            "data": {"token": "dG9rZW4="},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _md("api")},
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _md(
                "data-pg-0",
                annotations={"pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": "n1"},
            ),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast",
                "volumeName": "pvc-1234",
                "resources": {"requests": {"storage": "1Gi"}},
            },
            "status": {"phase": "Bound"},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": _md("pvc-1234", None, annotations={app.PROVISIONED_BY: "ebs.csi.aws.com"}),
            "spec": {
                "capacity": {"storage": "1Gi"},
                "storageClassName": "fast",
                "claimRef": {"namespace": "db", "name": "data-pg-0", "uid": "c-1", "resourceVersion": "9"},
                "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"},
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": _md("fast", None),
            "provisioner": "ebs.csi.aws.com",
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": _md("unrelated", None),
            "provisioner": "x",
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _md("pg"),
            "spec": {
                "serviceName": "pg",
                "selector": {"matchLabels": {"app": "pg"}},
                "template": {
                    "metadata": {"labels": {"app": "pg"}},
                    "spec": {"containers": [{"name": "pg", "image": "postgres:16"}]},
                },
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _md("api-reader"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "db-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "api", "namespace": "db"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _md("viewers"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "name": "db-team", "apiGroup": "rbac.authorization.k8s.io"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _md("db-reader", None),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": _md("nginx", None),
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _md("api"),
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": "api.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "api", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "example.com/v1",
            "kind": "Database",
            "metadata": _md("orders"),
            "spec": {"engine": "postgres", "size": "1Gi"},
            "status": {"ready": True},
        },
    ]


def shop_objects() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(DEMO_FILE.read_text()) if isinstance(d, dict)]
    for d in docs:
        d.setdefault("metadata", {})["namespace"] = "shop"
    return docs


def source_store() -> Store:
    store = Store()
    store.add_crd(CRD)
    snapshot_class = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": "ebs"},
        "driver": "ebs.csi.aws.com",
        "deletionPolicy": "Retain",
    }
    store.load_cluster(
        [CRD, *db_objects(), *shop_objects(), snapshot_class], {"Database": True, "VolumeSnapshotClass": False}
    )
    return store


def target_store() -> Store:
    store = Store(writable=True)
    store.load_cluster([])
    return store


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[str, str, Store]]:
    target = target_store()
    with KubeAPIServer(source_store()) as src, KubeAPIServer(target) as dst:
        yield src.kubeconfig(tmp_path / "src.kubeconfig"), dst.kubeconfig(tmp_path / "dst.kubeconfig"), target


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    key = generate()
    write_key_file(key, str(tmp_path / "key.json"))
    return Repository(LocalStorage(str(tmp_path / "repo")), key)


def _included(archive: app.AppArchive) -> set[str]:
    return {
        f"{e['kind']} {e['namespace']}/{e['name']}" if e["namespace"] else f"{e['kind']} {e['name']}"
        for e in archive.manifest["included"]
    }


def test_namespace_backup_contents(clusters: tuple[str, str, Store], repo: Repository) -> None:
    src, _, _ = clusters
    rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=src), ["db", "shop"])
    assert rec["kind"] == "namespaces" and rec["app"]["namespaces"] == ["db", "shop"]
    _, archive = app.load_archive(repo, rec["id"])
    names = _included(archive)
    # every listable namespaced type, not only what rules read; and the cluster-scoped dependencies
    for want in (
        "Namespace db",
        "Deployment db/api",
        "Pod db/debug",  # a bare Pod: nothing would make it again
        "Service db/pg",
        "Secret db/pg-password",
        "ConfigMap db/settings",
        "ConfigMap db/orders-schema",
        "PersistentVolumeClaim db/data-pg-0",
        "StatefulSet db/pg",
        "Ingress db/api",
        "Database db/orders",
        "CustomResourceDefinition databases.example.com",
        "ClusterRole db-reader",
        "ClusterRole view",
        "PersistentVolume pvc-1234",
        "StorageClass fast",
        "IngressClass nginx",
        "Deployment shop/frontend",
        "ServiceAccount shop/cartservice",
    ):
        assert want in names, want
    assert "StorageClass unrelated" not in names
    skipped = {(s.get("kind") or s.get("type"), s.get("name")): s["reason"] for s in archive.manifest["skipped"]}
    assert skipped[("ReplicaSet", "api-5d9")].startswith("derived: made by its controller, Deployment api")
    assert skipped[("Pod", "api-5d9-abcde")].startswith("derived: made by its controller, ReplicaSet")
    assert skipped[("ConfigMap", "kube-root-ca.crt")].startswith("derived")
    assert skipped[("Secret", "api-token")].startswith("derived")
    assert skipped[("endpoints", None)].startswith("derived")
    assert skipped[("events", None)].startswith("derived")
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in archive.objects}
    dep = by_name[("Deployment", "api")]
    for k in app.SERVER_METADATA:
        assert k not in dep["metadata"]
    assert "status" not in dep and dep["metadata"]["annotations"] == {"team": "db"}
    assert "clusterIP" not in by_name[("Service", "api")]["spec"]
    assert by_name[("Service", "pg")]["spec"]["clusterIP"] == "None"  # headless: kept
    pvc = by_name[("PersistentVolumeClaim", "data-pg-0")]
    assert "volumeName" not in pvc["spec"] and "annotations" not in pvc["metadata"]
    assert "uid" not in by_name[("PersistentVolume", "pvc-1234")]["spec"]["claimRef"]
    assert "nodeName" not in by_name[("Pod", "debug")]["spec"]
    # a node port the user chose (kubectl's last applied configuration) stays; an allocated one goes
    assert by_name[("Service", "edge")]["spec"]["ports"] == [{"port": 443, "nodePort": 30443}, {"port": 80}]
    assert by_name[("Namespace", "db")]["metadata"]["labels"] == {"team": "db"}  # the server-set label goes
    assert by_name[("ConfigMap", "orders-schema")]["metadata"]["ownerReferences"] == [
        {"apiVersion": "example.com/v1", "kind": "Database", "name": "orders"}
    ]
    assert by_name[("Secret", "pg-password")]["data"] == {"password": "c2VjcmV0LXZhbHVlLTQy"}
    # ...stored encrypted: the value is nowhere in the repository's files
    for dirpath, _, files in os.walk(repo.storage.url):
        for f in files:
            data = Path(dirpath, f).read_bytes()
            assert b"c2VjcmV0LXZhbHVlLTQy" not in data and b"pg-password" not in data


def _comparable(store: Store, namespace: str, *, clean: bool) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for t in store.types.values():
        for (ns, name), obj in t.objects.items():
            if ns == namespace:
                o = app.clean_object(obj) if clean else json.loads(json.dumps(obj))
                o["metadata"].pop("namespace", None)
                out[(t.kind, name)] = o
    return out


def test_restore_into_empty_cluster_with_namespace_map(clusters: tuple[str, str, Store], repo: Repository) -> None:
    src, dst, target = clusters
    rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=src), ["db", "shop"])
    res = app.restore_namespaces(repo, rec["id"], ClusterSource(kubeconfig=dst), namespace_map={"db": "db-restored"})
    doc = res.to_dict()
    assert res.ok, [o for o in doc["objects"] if o["action"] == "failed" or o["present"] is False]
    assert doc["drill"]["present"] == doc["drill"]["checked"] > 40
    # dependency order: each phase after the one before, owned objects last
    actions = [(o["phase"], o["object"]) for o in doc["objects"]]
    phases = [app.PHASE_NAMES.index(p) for p, k in actions if "orders-schema" not in k]
    assert phases == sorted(phases)
    assert actions[-1][1] == "ConfigMap db-restored/orders-schema"
    state = {o["object"]: (o["action"], o["detail"]) for o in doc["objects"]}
    assert state["ClusterRole view"][0] == "exists"  # the target's own bootstrap role: left as it is
    assert state["PersistentVolume pvc-1234"][0] == "skipped"  # dynamically provisioned
    assert state["ClusterRole db-reader"][0] == "applied"
    # the restored namespace holds what the source namespace held, less what the cluster derives
    source = _comparable(source_store(), "db", clean=True)
    restored = _comparable(target, "db-restored", clean=False)
    derived = {("ReplicaSet", "api-5d9"), ("Pod", "api-5d9-abcde"), ("Endpoints", "api"), ("Event", "api.1")}
    derived |= {("ConfigMap", "kube-root-ca.crt"), ("Secret", "api-token")}
    assert set(restored) == set(source) - derived
    for key, obj in restored.items():
        want = source[key]
        if key == ("RoleBinding", "api-reader"):
            want["subjects"][0]["namespace"] = "db-restored"
        assert app.contained(want, obj) == [], key
    # the owner reference points at the restored owner's uid, not the old one
    owner_uid = target.types[("example.com", "databases")].objects[("db-restored", "orders")]["metadata"]["uid"]
    cm = target.types[("", "configmaps")].objects[("db-restored", "orders-schema")]
    assert cm["metadata"]["ownerReferences"][0]["uid"] == owner_uid != "old-uid"
    assert ("db-restored", "pg") in target.types[("apps", "statefulsets")].objects
    assert ("shop", "frontend") in target.types[("apps", "deployments")].objects
    assert target.types[("", "services")].objects[("db-restored", "api")]["spec"].get("clusterIP") is None


def test_restore_storage_class_map_and_dry_run(clusters: tuple[str, str, Store], repo: Repository) -> None:
    src, dst, target = clusters
    rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=src), ["db"])
    before = target.rv
    plan = app.restore_namespaces(
        repo, rec["id"], ClusterSource(kubeconfig=dst), storage_class_map={"fast": "standard"}, dry_run=True
    )
    assert target.rv == before  # nothing written
    assert {o.action for o in plan.objects} <= {"would apply", "exists", "skipped"}
    res = app.restore_namespaces(repo, rec["id"], ClusterSource(kubeconfig=dst), storage_class_map={"fast": "standard"})
    assert res.ok
    pvc = target.types[("", "persistentvolumeclaims")].objects[("db", "data-pg-0")]
    assert pvc["spec"]["storageClassName"] == "standard"
    assert ("", "fast") not in target.types[("storage.k8s.io", "storageclasses")].objects
    with pytest.raises(UsageError, match="not a namespace of backup"):
        app.restore_namespaces(repo, rec["id"], ClusterSource(kubeconfig=dst), namespace_map={"nope": "x"})


def test_verify_detects_flipped_byte_and_missing_blob(clusters: tuple[str, str, Store], repo: Repository) -> None:
    src, _, _ = clusters
    rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=src), ["db"])
    assert ops.verify(repo).ok
    path = Path(repo.storage.url, *blob_name(rec["blobs"][0]["sha256"]).split("/"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    res = ops.verify(repo)
    assert not res.ok
    assert any(f"backup {rec['id']}" in i.message and i.level == "error" for i in res.issues), res.to_dict()
    with pytest.raises(Exception, match=r"authenticat|altered"):
        app.load_archive(repo, rec["id"])
    path.unlink()
    res = ops.verify(repo)
    assert not res.ok and any("missing" in i.message for i in res.issues)


def test_cli_namespace_backup_and_restore(clusters: tuple[str, str, Store], repo: Repository, tmp_path: Path) -> None:
    src, dst, target = clusters
    key = str(tmp_path / "key.json")
    common = ["--repo", repo.storage.url, "--key-file", key]
    r = CliRunner().invoke(cli, ["backup", "namespace", "db", "--kubeconfig", src, *common, "-o", "json"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert "c2VjcmV0" not in r.output
    r = CliRunner().invoke(
        cli,
        [
            "backup",
            "restore",
            rec["id"],
            "--kubeconfig",
            dst,
            "--to-context",
            "cert",
            *common,
            "--namespace-map",
            "db=db2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "present" in r.stdout and ("db2", "api") in target.types[("apps", "deployments")].objects
    r = CliRunner().invoke(
        cli, ["backup", "restore", "latest", "--kubeconfig", dst, "--to-context", "cert", *common, "--dry-run"]
    )
    assert r.exit_code == 0 and "dry run" in r.stdout, r.output
    r = CliRunner().invoke(cli, ["backup", "namespace", "nope", "--kubeconfig", src, *common])
    assert r.exit_code == 2 and "no namespace nope" in r.output
    r = CliRunner().invoke(cli, ["backup", "restore", rec["id"], *common, "--data-dir", str(tmp_path / "d")])
    assert r.exit_code == 2 and "--to-context" in r.output


def test_cli_volume_jobs_and_verify_lock_policy(
    clusters: tuple[str, str, Store], repo: Repository, tmp_path: Path
) -> None:
    src, _, _ = clusters
    rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=src), ["db"])
    _, archive = app.load_archive(repo, rec["id"])
    assert archive.manifest["volume_snapshot_drivers"] == ["ebs.csi.aws.com"]
    common = ["--repo", repo.storage.url, "--key-file", str(tmp_path / "key.json")]
    image = "registry.example.com/restic@sha256:" + "b" * 64
    args = ["backup", "volume-jobs", rec["id"], *common, "--restic-repository", "s3:https://s3.example.com/b/r"]
    r = CliRunner().invoke(cli, [*args, "--restic-image", image])
    assert r.exit_code == 0, r.output
    docs = list(yaml.safe_load_all(r.stdout))
    # the claim's class is provisioned by a driver with a VolumeSnapshotClass: snapshot first
    assert [d["kind"] for d in docs] == [
        "ServiceAccount",
        "NetworkPolicy",
        "VolumeSnapshot",
        "PersistentVolumeClaim",
        "Job",
    ]
    r = CliRunner().invoke(cli, [*args, "--restic-image", "restic/restic:0.14.0"])
    assert r.exit_code == 2 and "pin it by digest" in r.output
    # a directory repository cannot meet a retention policy: checked before a backup, and by verify
    r = CliRunner().invoke(cli, ["backup", "namespace", "db", "--kubeconfig", src, *common, "--object-lock-days", "7"])
    assert r.exit_code == 2 and "refusing to back up" in r.output
    r = CliRunner().invoke(cli, ["backup", "verify", *common, "--object-lock-days", "7"])
    assert r.exit_code == 1 and "cannot enforce a retention" in r.output


def test_drill_comparison_allows_defaults_only() -> None:
    applied = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}
    defaulted = {
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate"},
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Always"}]}},
        }
    }
    assert app.contained(applied, defaulted) == []
    changed = json.loads(json.dumps(defaulted))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "y"
    assert app.contained(applied, changed) == [".spec.template.spec.containers[0].image"]
    assert app.contained(applied, {"spec": {"template": {"spec": {"containers": []}}}}) == [
        ".spec.replicas",
        ".spec.template.spec.containers",
    ]
