"""The pictures of the HTML report: a namespace's NetworkPolicy matrix and the RBAC escalation paths
to cluster-admin, computed by the analysis engines through ``api.report_views`` and drawn as SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort import api
from kubefort.api import ScanOptions, report_views, scan
from kubefort.cli import cli
from kubefort.reporters.html import HtmlReporter

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "<script>alert(1)</script>", namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      serviceAccountName: admin-sa
      containers: [{name: api, image: api, ports: [{containerPort: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: frontend-to-backend, namespace: shop}
spec:
  podSelector: {matchLabels: {app: backend}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
    ports: [{port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: admin-sa, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admin-sa-is-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: admin-sa, namespace: shop}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-maker, namespace: shop}
rules: [{apiGroups: [""], resources: [pods], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer-makes-pods, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-maker}
subjects: [{kind: ServiceAccount, name: deployer, namespace: shop}]
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("views")
    (d / "app.yaml").write_text(APP)
    return d / "app.yaml"


def test_matrix_follows_network_policy(app: Path) -> None:
    views = report_views(scan(ScanOptions(paths=[str(app)])))
    (m,) = views.matrices
    assert m.namespace == "shop"
    assert m.workloads == ("Deployment/<script>alert(1)</script>", "Deployment/frontend")
    backend, frontend = 0, 1
    # ingress to the namespace is denied by default; frontend may reach backend on TCP/8080 only;
    # egress is not isolated, but ingress of frontend is: backend cannot reach it
    assert m.allowed[frontend][backend] == ("TCP/8080",)
    assert m.allowed[backend][frontend] == ()
    assert m.isolated[backend] == (True, False) and m.isolated[frontend] == (True, False)
    assert m.inbound == 0 and m.outbound == 0 and m.omitted == 0


def test_escalation_paths_to_cluster_admin(app: Path) -> None:
    views = report_views(scan(ScanOptions(paths=[str(app)])))
    by_source = {p.source: p for p in views.paths}
    assert by_source["ServiceAccount:shop:admin-sa"].steps[-1][2] == "cluster-admin"
    deployer = by_source["ServiceAccount:shop:deployer"]  # creates a pod that runs as admin-sa
    assert [to for _, _, to in deployer.steps] == ["ServiceAccount:shop:admin-sa", "cluster-admin"]
    assert "pod" in deployer.steps[0][0]
    assert views.paths_total == len(views.paths)


def test_page_draws_them_and_escapes_names(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", str(app), "-o", "html", "--output", str(out)])
    assert r.exit_code == 1, r.stderr
    page = out.read_text()
    assert 'id="netpol"' in page and 'id="escalation"' in page
    matrix = page[page.index('id="matrix-1"') : page.index("</figure>", page.index('id="matrix-1"'))]
    assert matrix.count('class="cell"') == 4
    assert "Deployment/frontend → Deployment/&lt;script&gt;alert(1)&lt;/script&gt;: TCP/8080" in matrix
    assert page.count("<script") == 2  # the data block and the page's script: the name stays text
    assert re.search(r"ServiceAccount:shop:deployer</strong><ol><li>[^<]*pod", page)


def test_views_are_bounded(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "VIEW_WORKLOADS", 1)
    monkeypatch.setattr(api, "VIEW_PATHS", 1)
    views = report_views(scan(ScanOptions(paths=[str(app)])))
    assert len(views.matrices[0].workloads) == 1 and views.matrices[0].omitted == 1
    assert len(views.paths) == 1 and views.paths_total == 2
    assert any("shortest" in n for n in views.notes)
    monkeypatch.setattr(api, "VIEW_MAX_WORKLOADS", 1)
    views = report_views(scan(ScanOptions(paths=[str(app)])))
    assert views.matrices == () and any("not drawn" in n for n in views.notes)


def test_no_inventory_no_pictures() -> None:
    from kubefort.engine.findings import Report

    assert report_views(Report()) == api.ReportViews()
    page = HtmlReporter().html(Report())
    assert 'id="netpol"' not in page and 'id="escalation"' not in page


EXPOSED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: registry.example.com/web:1.0, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: web-is-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: web, namespace: shop}]
"""


def test_attack_paths_from_the_internet(tmp_path: Path) -> None:
    # the attack graph's paths (the same the GRAPH rules and `kubefort graph paths` find) are drawn too
    (tmp_path / "app.yaml").write_text(EXPOSED)
    views = report_views(scan(ScanOptions(paths=[str(tmp_path / "app.yaml")])))
    assert views.attack and views.attack_total >= len(views.attack)
    first = views.attack[0]
    assert first.source == "the internet" and first.steps[-1][2] == "cluster-admin"
    assert any("shop/Deployment/web" in to for _, _, to in first.steps)
    out = tmp_path / "r.html"
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["scan", str(tmp_path / "app.yaml"), "-o", "html", "--output", str(out)]
    )
    assert r.exit_code == 1, r.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="attack"' in page and 'marker id="arrow-attack"' in page
    # a NetworkPolicy that admits no internet address cuts the path: nothing is drawn
    deny = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
    (tmp_path / "app.yaml").write_text(EXPOSED + deny + "spec: {podSelector: {}, policyTypes: [Ingress]}\n")
    assert report_views(scan(ScanOptions(paths=[str(tmp_path / "app.yaml")]))).attack == ()
