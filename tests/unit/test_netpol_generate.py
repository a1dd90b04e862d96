"""``kubefort netpol generate``: policies from intended flows, checked by hand on a small shop, proven by
the reachability engine on microservices-demo and on random flow sets, and scanned with the NET rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubefort.analysis.netpol import NetpolEngine
from kubefort.analysis.netpol.generate import (
    Flow,
    FlowError,
    choose_selector,
    flows_from_hubble,
    generate,
    parse_flows,
    prove,
)
from kubefort.api import ScanOptions, load_inputs, scan_inventory
from kubefort.cli import cli
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "netpol_generate"
SHOP = str(FIX / "shop.yaml")
SHOP_FLOWS = str(FIX / "shop.flows")
DEMO = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "GoogleCloudPlatform__microservices-demo"
DEMO_MANIFESTS = DEMO / "release" / "kubernetes-manifests.yaml"

# microservices-demo's intended flows: the *_ADDR environment variables of release/kubernetes-manifests.yaml
# (service:port, the Service's port), the frontend-external LoadBalancer, and DNS.
DEMO_FLOWS = """
loadgenerator -> frontend:80            # FRONTEND_ADDR frontend:80 (Service port 80 -> 8080)
frontend -> productcatalogservice:3550
frontend -> currencyservice:7000
frontend -> cartservice:7070
frontend -> recommendationservice:8080
frontend -> shippingservice:50051
frontend -> checkoutservice:5050
frontend -> adservice:9555
cartservice -> redis-cart:6379          # REDIS_ADDR redis-cart:6379
recommendationservice -> productcatalogservice:3550
checkoutservice -> productcatalogservice:3550
checkoutservice -> shippingservice:50051
checkoutservice -> paymentservice:50051
checkoutservice -> emailservice:5000    # Service port 5000 -> container 8080
checkoutservice -> currencyservice:7000
checkoutservice -> cartservice:7070
* -> kube-dns:53/UDP
* -> kube-dns:53/TCP
"""


def _objects(path: str | Path) -> list[K8sObject]:
    loaded = load_inputs(ScanOptions(paths=[str(path)]))
    assert not loaded.errors
    return loaded.objects


def _policy(gen_policies: Any, name: str) -> dict[str, Any]:
    [p] = [p for p in gen_policies if p["metadata"]["name"] == name]
    return p


def _engine(objects: list[K8sObject], policies: Any, extra: Any = ()) -> NetpolEngine:
    objs = [K8sObject.from_raw(p, Source(file="<test>")) for p in policies]
    return NetpolEngine(Inventory([*objects, *extra, *objs]))


# ----------------------------------------------------------------------------------- parsing


def test_parse_flows_forms() -> None:
    flows = parse_flows(
        "a -> b:8080/TCP\nb->db:5432  # comment\n\n* -> kube-dns:53/UDP\nx -> 0.0.0.0/0:443\n"
        "y -> [2001:db8::/32]:443,80\nz -> ns/deploy/w\nq -> w:http,TCP/9000,8000-8100/UDP\n"
    )
    assert [f.text() for f in flows] == [
        "a -> b:8080/TCP",
        "b -> db:5432/TCP",
        "* -> kube-dns:53/UDP",
        "x -> 0.0.0.0/0:443/TCP",
        "y -> [2001:db8::/32]:443/TCP,80/TCP",
        "z -> ns/deploy/w",
        "q -> w:http/TCP,9000/TCP,8000-8100/UDP",
    ]
    assert flows[1].line == 2 and flows[5].ports is None


@pytest.mark.parametrize(
    ("line", "msg"),
    [
        ("a b", "expected 'SOURCE -> DESTINATION"),
        ("a -> b:99999", "out of range"),
        ("a -> b:80/ICMP", "unknown protocol"),
        ("a -> 2001:db8::/32:443", "brackets"),
        ("a -> b:8080-80", "out of range"),
    ],
)
def test_parse_flows_errors(line: str, msg: str) -> None:
    with pytest.raises(FlowError, match=msg) as e:
        parse_flows(f"# x\n{line}\n", "f.flows")
    assert str(e.value).startswith("f.flows:2: ")


# ----------------------------------------------------------------------------------- hand-checked shop


def test_shop_policies_by_hand() -> None:
    objects = _objects(SHOP)
    gen = generate(objects, parse_flows(Path(SHOP_FLOWS).read_text(), "shop.flows"))
    names = [p["metadata"]["name"] for p in gen.policies]
    assert names == ["default-deny", "allow-all-pods", "allow-backend", "allow-db", "allow-frontend", "allow-report"]
    assert gen.namespaces == ("shop",)  # kube-system and ingress-nginx get no policy
    assert _policy(gen.policies, "default-deny")["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # DNS for every pod of shop, to the well-known kube-dns labels, by number (names differ between installs)
    dns = _policy(gen.policies, "allow-all-pods")["spec"]
    assert dns == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}],
            }
        ],
    }
    # frontend: selected by app.kubernetes.io/name (never the version or pod-template-hash); its
    # container names 8080 "http", so the rule uses the name
    fe = _policy(gen.policies, "allow-frontend")["spec"]
    assert fe["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "frontend"}}
    assert fe["policyTypes"] == ["Ingress", "Egress"]
    assert fe["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "ingress-nginx",
                            "app.kubernetes.io/component": "controller",
                        }
                    },
                }
            ],
            "ports": [{"protocol": "TCP", "port": "http"}],
        }
    ]
    assert fe["egress"] == [
        {"to": [{"podSelector": {"matchLabels": {"app": "backend"}}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    ]
    be = _policy(gen.policies, "allow-backend")["spec"]
    assert be["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "frontend"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    assert {json.dumps(r, sort_keys=True) for r in be["egress"]} == {
        json.dumps(r, sort_keys=True)
        for r in [
            {
                "to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                "ports": [{"protocol": "TCP", "port": "postgres"}],
            },
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        ]
    }
    db = _policy(gen.policies, "allow-db")["spec"]
    assert db["policyTypes"] == ["Ingress"]
    assert db["ingress"] == [
        {
            "from": [
                {"podSelector": {"matchLabels": {"app": "backend"}}},
                {"podSelector": {"matchLabels": {"app": "report"}}},
            ],
            "ports": [{"protocol": "TCP", "port": "postgres"}],
        }
    ]
    proof = prove(objects, gen)
    assert proof.equal, (proof.extra, proof.missing)


def test_shop_reachability_by_hand() -> None:
    """What Kubernetes allows with the generated policies, asked of the engine one connection at a time."""
    objects = _objects(SHOP)
    gen = generate(objects, parse_flows(Path(SHOP_FLOWS).read_text()))
    eng = _engine(objects, gen.policies, gen.well_known)

    def ports(a: str, b: str) -> list[str]:
        return eng.ports(eng.find(a), eng.find(b)).render()

    assert ports("shop/deploy/frontend", "shop/deploy/backend") == ["TCP/8080"]
    assert ports("shop/deploy/backend", "shop/deploy/frontend") == []
    assert ports("shop/deploy/frontend", "shop/sts/db") == []
    assert ports("shop/deploy/backend", "shop/sts/db") == ["TCP/5432"]
    assert ports("shop/cj/report", "shop/sts/db") == ["TCP/5432"]
    assert ports("shop/deploy/backend", "0.0.0.0/0") == ["TCP/443"]
    assert ports("shop/deploy/frontend", "0.0.0.0/0") == []
    assert ports("0.0.0.0/0", "shop/deploy/frontend") == []
    assert ports("shop/sts/db", "kube-system/deploy/kube-dns") == ["TCP/53", "UDP/53"]
    assert ports("shop/deploy/backend", "shop/deploy/backend") == []  # replica to replica: not a flow


def test_service_port_translated_to_target_port() -> None:
    objects = _objects(SHOP)
    gen = generate(objects, parse_flows("frontend -> backend:80\n"))  # the Service's port
    fe = _policy(gen.policies, "allow-frontend")["spec"]
    assert fe["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert prove(objects, gen).equal


def test_selector_is_minimal_and_stable() -> None:
    def w(name: str, labels: dict[str, str]) -> K8sObject:
        raw = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
            },
        }
        return K8sObject.from_raw(raw, Source(file="t"))

    objs = [
        w("web-fe", {"app": "web", "tier": "fe", "pod-template-hash": "abc", "version": "1"}),
        w("web-be", {"app": "web", "tier": "be", "version": "1"}),
        w("api", {"app": "api", "app.kubernetes.io/name": "api", "release": "r1"}),
        w("twin-a", {"app": "twin"}),
        w("twin-b", {"app": "twin"}),
    ]
    eng = NetpolEngine(Inventory(objs))
    sel = {x.name: choose_selector(x, eng.workloads) for x in eng.workloads}
    assert sel["web-fe"].match_labels == (("tier", "fe"),)
    assert sel["web-be"].match_labels == (("tier", "be"),)
    assert sel["api"].match_labels == (("app.kubernetes.io/name", "api"),)
    assert sel["twin-a"].match_labels == (("app", "twin"),)
    assert sel["twin-a"].also == ("ns/Deployment/twin-b",)


def test_indistinguishable_workloads_are_reported() -> None:
    """Two workloads whose pods share all labels: a flow to one also reaches the other, and the proof
    says so and why."""
    text = Path(SHOP).read_text() + (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: backend-canary, namespace: shop}\n"
        "spec:\n  template:\n    metadata:\n      labels: {app: backend, app.kubernetes.io/part-of: shop}\n"
        "    spec:\n      containers: [{name: api, image: example/backend:1.1, ports: [{containerPort: 8080}]}]\n"
    )
    objects = _load_text(text)
    gen = generate(objects, parse_flows("shop/Deployment/frontend -> shop/Deployment/backend:8080\n"))
    proof = prove(objects, gen)
    assert not proof.equal and not proof.missing
    [extra] = [d for d in proof.extra if d.destination == "shop/Deployment/backend-canary"]
    assert extra.source == "shop/Deployment/frontend" and extra.ports.render() == ["TCP/8080"]
    assert any("no selector tells them apart" in why for why in extra.why)


def _load_text(text: str) -> list[K8sObject]:
    from kubefort.loading.loader import load_text

    loaded = load_text(text, "<test>")
    assert not loaded.errors
    return loaded.objects


def test_unknown_and_ambiguous_names() -> None:
    objects = _objects(SHOP)
    with pytest.raises(FlowError, match=r"no workload 'backnd'.*did you mean"):
        generate(objects, parse_flows("frontend -> backnd:80\n"))
    with pytest.raises(FlowError, match="no container port named grpc/TCP"):
        generate(objects, parse_flows("frontend -> backend:grpc\n"))
    with pytest.raises(FlowError, match="both ends are CIDRs"):
        generate(objects, parse_flows("10.0.0.0/8 -> 0.0.0.0/0:443\n"))
    with pytest.raises(FlowError, match="no flow names one"):
        generate(objects, parse_flows("* -> kube-dns:53/UDP\n"))


# ----------------------------------------------------------------------------------- microservices-demo


@pytest.mark.skipif(not DEMO_MANIFESTS.exists(), reason="corpus not checked out")
def test_microservices_demo_intended_flows_proven_and_clean() -> None:
    objects = _objects(DEMO_MANIFESTS)
    gen = generate(objects, parse_flows(DEMO_FLOWS))
    proof = prove(objects, gen)
    assert proof.equal, (proof.extra, proof.missing)
    assert proof.pairs > 200
    em = _policy(gen.policies, "allow-emailservice")["spec"]
    assert em["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]  # 5000 is the Service's port
    cur = _policy(gen.policies, "allow-currencyservice")["spec"]
    assert cur["ingress"][0]["ports"] == [{"protocol": "TCP", "port": "grpc"}]  # the container names 7000
    # the demo's own policies (kustomize/components/network-policies) allow the same service ports
    eng = _engine(objects, gen.policies, gen.well_known)
    assert eng.ports(eng.find("default/deploy/frontend"), eng.find("default/deploy/cartservice")).render() == [
        "TCP/7070"
    ]
    assert eng.ports(eng.find("default/deploy/frontend"), eng.find("default/deploy/redis-cart")).render() == []
    # the NET rules find nothing on the policies, and no namespace or workload left open
    policies = [K8sObject.from_raw(p, Source(file="generated.yaml")) for p in gen.policies]
    report = scan_inventory(Inventory([*objects, *policies]), ScanOptions(rules=["KF-NET-*"]))
    failing = {(f.rule.id, f.object.kind) for f in report.findings}
    assert failing <= {("KF-NET-012", "Service")}, failing  # frontend-external is a LoadBalancer: by design


# ----------------------------------------------------------------------------------- random flow sets


NAMES = ["web", "api", "db", "cache", "worker"]


@st.composite
def topologies(draw: st.DrawFn) -> tuple[list[K8sObject], str]:
    objs: list[dict[str, Any]] = []
    refs = []
    for ns in ("alpha", "beta"):
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True)):
            labels = {"app": name, "team": draw(st.sampled_from(["x", "y"]))}
            if draw(st.booleans()):
                labels["app.kubernetes.io/name"] = name
            ports = []
            if draw(st.booleans()):
                ports.append({"name": "http", "containerPort": draw(st.sampled_from([80, 8080]))})
            if draw(st.booleans()):
                ports.append({"name": "dns", "containerPort": 53, "protocol": "UDP"})
            objs.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": draw(st.sampled_from(["Deployment", "StatefulSet"])),
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "c", "image": "i", "ports": ports}]},
                        }
                    },
                }
            )
            refs.append((ns, name, [p["name"] for p in ports]))
    ends = [f"{ns}/{n}" for ns, n, _ in refs]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        src = draw(st.sampled_from([*ends, "*", "alpha/*", "10.1.0.0/16"]))
        dst_i = draw(st.integers(0, len(refs) + 1))
        if dst_i == len(refs):
            dst, names = draw(st.sampled_from(["0.0.0.0/0", "192.0.2.0/24"])), []
        elif dst_i == len(refs) + 1:
            dst, names = "*", []
        else:
            dst, names = ends[dst_i], refs[dst_i][2]
        if src == "10.1.0.0/16" and dst in ("0.0.0.0/0", "192.0.2.0/24"):
            continue
        port = draw(
            st.sampled_from(["", ":80", ":8080", ":53/UDP", ":5432,5433", ":9000-9010/UDP", *[f":{n}" for n in names]])
        )
        if port.startswith(":dns"):
            port += "/UDP"
        lines.append(f"{src} -> {dst}{port}")
    # '*' needs a covered namespace: a flow set that names no workload of one is refused by design
    # (FlowError, tested on its own), so a random set names one at least
    named = [*ends, "alpha/*"]
    if not any(part in named for line in lines for part in line.replace(":", " ").split()):
        lines.append(f"{ends[0]} -> {ends[-1]}")
    return [K8sObject.from_raw(o, Source(file="t")) for o in objs], "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_random_flow_sets_are_proven_equal(case: tuple[list[K8sObject], str]) -> None:
    objects, text = case
    flows = parse_flows(text)
    gen = generate(objects, flows)
    proof = prove(objects, gen)
    assert proof.equal, (text, proof.extra, proof.missing)
    # the NET rules find nothing in the covered namespaces (their Namespaces, workloads and the policies) but
    # the internet ipBlock a flow asks for; namespaces no flow names are left as they were
    policies = [K8sObject.from_raw(p, Source(file="generated.yaml")) for p in gen.policies]
    report = scan_inventory(Inventory([*objects, *policies]), ScanOptions(rules=["KF-NET-*"]))
    covered = set(gen.namespaces)
    found = [
        (f.rule.id, f.message)
        for f in report.findings
        if f.object.namespace in covered or (f.object.kind == "Namespace" and f.object.name in covered)
    ]
    allowed = {"KF-NET-008"} if "0.0.0.0/0" in text else set()
    assert {rule for rule, _ in found} <= allowed, (text, found)


# ----------------------------------------------------------------------------------- observed flows


def _hubble(src: dict[str, Any], dst: dict[str, Any], proto: str, port: int, **kw: Any) -> str:
    flow = {
        "verdict": kw.pop("verdict", "FORWARDED"),
        "IP": {"source": kw.pop("sip", "10.0.0.1"), "destination": kw.pop("dip", "10.0.0.2")},
        "l4": {proto: {"source_port": 40000, "destination_port": port}},
        "source": src,
        "destination": dst,
        **kw,
    }
    return json.dumps({"flow": flow, "node_name": "n1", "time": "2026-12-07T10:00:00Z"})


def _pod(ns: str, pod: str, **labels: str) -> dict[str, Any]:
    return {
        "namespace": ns,
        "pod_name": pod,
        "labels": [f"k8s:{k}={v}" for k, v in labels.items()] + [f"k8s:io.kubernetes.pod.namespace={ns}"],
    }


def test_from_hubble_flows() -> None:
    objects = _objects(SHOP)
    fe = _pod(
        "shop",
        "frontend-5d4f9-abcde",
        **{
            "app.kubernetes.io/name": "frontend",
            "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/version": "1.2.3",
            "pod-template-hash": "5d4f9",
        },
    )
    be = _pod("shop", "backend-6c7d8-xyz12", app="backend", **{"app.kubernetes.io/part-of": "shop"})
    db = _pod("shop", "db-0", app="db")  # labels incomplete: found by its pod name
    dns = _pod("kube-system", "coredns-1-2", **{"k8s-app": "kube-dns"})
    world = {"labels": ["reserved:world"]}
    lines = [
        _hubble(fe, be, "TCP", 8080),
        _hubble(be, fe, "TCP", 40000, is_reply=True),  # a reply: not a flow
        _hubble(be, fe, "TCP", 40001, reply=True),  # a reply, as older Hubble versions mark it
        _hubble(be, db, "TCP", 5432),
        _hubble(be, db, "TCP", 5432),  # seen twice: one flow
        _hubble(fe, db, "TCP", 5432, verdict="DROPPED"),  # denied: not proposed
        _hubble(fe, dns, "UDP", 53),
        _hubble(be, world, "TCP", 443, dip="203.0.113.7"),
        _hubble(fe, _pod("shop", "ghost-1", app="ghost"), "TCP", 80),  # no such workload: a note
        json.dumps({"flow": {"verdict": "FORWARDED", "l4": {"ICMPv4": {"type": 8}}}}),  # not TCP/UDP/SCTP
    ]
    flows, notes = flows_from_hubble("\n".join(lines) + "\n", objects, "obs.json")
    assert [f.text() for f in flows] == [
        "shop/Deployment/backend -> 203.0.113.7/32:443/TCP",
        "shop/Deployment/backend -> shop/StatefulSet/db:5432/TCP",
        "shop/Deployment/frontend -> kube-dns:53/UDP",
        "shop/Deployment/frontend -> shop/Deployment/backend:8080/TCP",
    ]
    assert notes == ["obs.json:9: skipped: no workload of the manifests for shop/ghost-1"]
    gen = generate(objects, flows)
    assert prove(objects, gen).equal


def test_from_hubble_bad_json() -> None:
    with pytest.raises(FlowError, match=r"obs.json:1: not JSON"):
        flows_from_hubble("{nope\n", [], "obs.json")


# ----------------------------------------------------------------------------------- CLI


def test_cli_generate_yaml_and_proof(tmp_path: Path) -> None:
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", SHOP_FLOWS, "--manifests", SHOP])
    assert r.exit_code == 0, r.output
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert [d["metadata"]["name"] for d in docs][:2] == ["default-deny", "allow-all-pods"]
    assert r.stderr.splitlines()[-1].startswith("equal: the generated policies allow exactly the 7 intended flow(s)")
    out = tmp_path / "p.json"
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["netpol", "generate", SHOP_FLOWS, "-m", SHOP, "-o", "json", "--output", str(out)]
    )
    assert r.exit_code == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "List" and len(doc["items"]) == 6
    # the policies written are the policies proven: matrix of manifests + output
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["netpol", "can-reach", "shop/deploy/frontend", "shop/sts/db", SHOP, str(out)]
    )
    assert r.exit_code == 1, r.output


def test_cli_not_equal_exit_1(tmp_path: Path) -> None:
    man = tmp_path / "m.yaml"
    man.write_text(
        Path(SHOP).read_text()
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: backend-canary, namespace: shop}\n"
        "spec:\n  template:\n    metadata:\n      labels: {app: backend, app.kubernetes.io/part-of: shop}\n"
        "    spec:\n      containers: [{name: api, image: example/backend:1.1}]\n"
    )
    flows = tmp_path / "f"
    flows.write_text("shop/frontend -> shop/deploy/backend:8080\n")
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", str(flows), "-m", str(man)])
    assert r.exit_code == 1
    assert "extra: shop/Deployment/frontend -> shop/Deployment/backend-canary TCP/8080" in r.stderr
    assert "no selector tells them apart" in r.stderr
    assert "no flow allows DNS" in r.stderr


def test_cli_bad_input_one_line(tmp_path: Path) -> None:
    flows = tmp_path / "f"
    flows.write_text("frontend => backend\n")
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", str(flows), "-m", SHOP])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and f"{flows}:1: expected" in r.stderr
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", str(tmp_path / "missing"), "-m", SHOP])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_cli_from_flows(tmp_path: Path) -> None:
    fe = _pod("shop", "frontend-1", **{"app.kubernetes.io/name": "frontend"})
    be = _pod("shop", "backend-1", app="backend")
    obs = tmp_path / "obs.json"
    obs.write_text(_hubble(fe, be, "TCP", 8080) + "\n")
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", "--from-flows", str(obs), "-m", SHOP])
    assert r.exit_code == 0, r.output
    assert "#   shop/Deployment/frontend -> shop/Deployment/backend:8080/TCP" in r.stdout
    assert "equal:" in r.stderr


def test_flow_dataclass_text_roundtrip() -> None:
    for f in parse_flows(Path(SHOP_FLOWS).read_text()):
        assert parse_flows(f.text())[0].text() == f.text()
        assert isinstance(f, Flow)


def test_cli_cluster_equals_files(tmp_path: Path) -> None:
    """--cluster (the test API server holding shop.yaml) writes the same policies, with the same proof."""
    from kubeapi.server import KubeAPIServer, load_manifests
    from kubeapi.store import Store

    objects, scopes = load_manifests([SHOP])
    store = Store()
    store.load_cluster(objects, scopes)
    with KubeAPIServer(store) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        live = CliRunner(mix_stderr=False).invoke(
            cli, ["netpol", "generate", SHOP_FLOWS, "--cluster", "--kubeconfig", kubeconfig, "-o", "json"]
        )
    files = CliRunner(mix_stderr=False).invoke(cli, ["netpol", "generate", SHOP_FLOWS, "-m", SHOP, "-o", "json"])
    assert live.exit_code == files.exit_code == 0, live.output
    assert json.loads(live.stdout) == json.loads(files.stdout)
    assert live.stderr.splitlines()[-1] == files.stderr.splitlines()[-1]
