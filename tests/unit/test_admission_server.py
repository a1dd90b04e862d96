"""The webhook over real HTTPS on 127.0.0.1: a uvicorn server in a thread, a certificate made at test time."""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubefort.admission import certs
from kubefort.admission.config import AdmissionPolicy
from kubefort.admission.server import make_server, make_ssl_context
from kubefort.engine.config import Config
from kubefort.rules import default_registry

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "admission"
SERVICE, NAMESPACE = "kubefort-admission", "kubefort-system"


@dataclass
class Running:
    port: int
    ca: str
    dir: Path
    audit: io.StringIO
    server: Any

    def conn(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=self.ca)
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, chunked: bool = False
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            r = c.getresponse()
            return r.status, r.read(), r
        finally:
            c.close()

    def post(self, body: Any, **headers: str) -> tuple[int, Any]:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        status, raw, _ = self.request("POST", "/validate", data, {"Content-Type": "application/json", **headers})
        return status, json.loads(raw)

    def audit_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.getvalue().splitlines()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp: Path, policy: AdmissionPolicy, **kw: Any) -> Running:
    issued = certs.issue(SERVICE, NAMESPACE, ip_addresses=("127.0.0.1",))
    paths = certs.write(issued, str(tmp))
    audit = io.StringIO()
    port = _free_port()
    server = make_server(
        policy,
        cert=paths["tls.crt"],
        key=paths["tls.key"],
        host="127.0.0.1",
        port=port,
        audit_out=audit,
        graceful_timeout=2,
        **kw,
    )
    thread = threading.Thread(target=server.run, name="kubefort-admission-test", daemon=True)
    thread.start()
    for _ in range(500):  # bounded wait for start-up
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "the server did not start"
    server._test_thread = thread
    return Running(port=port, ca=paths["ca.crt"], dir=tmp, audit=audit, server=server)


def stop(run: Running) -> None:
    run.server.should_exit = True
    run.server._test_thread.join(10)
    assert not run.server._test_thread.is_alive()


POLICY = AdmissionPolicy.build(
    registry=default_registry(plugins=False),
    cfg=Config(),
    policy={"modes": [{"rules": ["KF-IMG-006"], "mode": "audit"}]},
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    run = start(tmp_path_factory.mktemp("tls"), POLICY)
    yield run
    stop(run)


def body(name: str) -> dict[str, Any]:
    return json.loads((FIX / name).read_text())


# -- decisions over HTTPS ------------------------------------------------------------------------


def test_allow_compliant_deployment(srv: Running) -> None:
    b = body("create-deployment-hardened.json")
    status, resp = srv.post(b)
    assert status == 200
    assert resp == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": b["request"]["uid"], "allowed": True},
    }


def test_deny_privileged_pod_with_warnings(srv: Running) -> None:
    status, resp = srv.post(body("create-pod-privileged.json"))
    r = resp["response"]
    assert status == 200 and r["allowed"] is False and r["status"]["code"] == 403
    assert "KF-POD-001" in r["status"]["message"] and "KF-POD-003" in r["status"]["message"]
    assert r["warnings"] and r["auditAnnotations"]["audited-rules"] == "KF-IMG-006"
    line = next(x for x in srv.audit_lines() if x["uid"] == r["uid"])
    assert line["decision"] == "deny" and line["denied_rules"] == ["KF-POD-001", "KF-POD-003"]
    assert line["audited_rules"] == ["KF-IMG-006"] and line["kind"] == "Pod" and line["namespace"] == "shop"
    assert line["user"] == "alice@shop.example" and line["operation"] == "CREATE" and line["latency_ms"] >= 0


def test_warn_only_deployment(srv: Running) -> None:
    b = body("create-deployment-hardened.json")
    c = b["request"]["object"]["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    b["request"]["uid"] = "warn-1"
    status, resp = srv.post(b)
    r = resp["response"]
    assert status == 200 and r["allowed"] is True
    assert [w.split(" ")[1] for w in r["warnings"]] == ["KF-POD-021"]
    assert next(x for x in srv.audit_lines() if x["uid"] == "warn-1")["decision"] == "warn"


def test_audit_mode_over_https(srv: Running) -> None:
    b = body("create-deployment-hardened.json")
    b["request"]["uid"] = "audit-1"
    b["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "nginxinc/nginx-unprivileged@sha256:" + "ab" * 32
    )
    _status, resp = srv.post(b)
    r = resp["response"]
    assert r["allowed"] is True and "warnings" not in r and r["auditAnnotations"] == {"audited-rules": "KF-IMG-006"}
    assert next(x for x in srv.audit_lines() if x["uid"] == "audit-1")["decision"] == "audit"


@pytest.mark.parametrize(
    "name,allowed",
    [
        ("update-deployment-privileged.json", False),
        ("update-deployment-finalizer-only.json", True),
        ("delete-pod.json", True),
        ("create-pod-privileged-dryrun.json", False),
        ("update-pod-ephemeralcontainers.json", False),
        ("connect-pod-exec.json", True),
    ],
)
def test_operations(srv: Running, name: str, allowed: bool) -> None:
    b = body(name)
    status, resp = srv.post(b)
    assert status == 200 and resp["response"]["uid"] == b["request"]["uid"]
    assert resp["response"]["allowed"] is allowed
    line = next(x for x in srv.audit_lines() if x["uid"] == b["request"]["uid"])
    assert line["dry_run"] is b["request"]["dryRun"]
    assert line["operation"] == b["request"]["operation"]


@pytest.mark.parametrize(
    "kind,api",
    [
        ("Deployment", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("ReplicaSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("CronJob", "batch/v1"),
        ("ReplicationController", "v1"),
        ("PodTemplate", "v1"),
        ("Pod", "v1"),
    ],
)
def test_every_workload_kind_over_https(srv: Running, kind: str, api: str) -> None:
    pod = {
        "containers": [{"name": "c", "image": "registry.example.com/c:1.0", "securityContext": {"privileged": True}}]
    }
    tmpl = {"metadata": {"labels": {"app": "x"}}, "spec": pod}
    if kind == "Pod":
        obj = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "team-a"}, "spec": pod}
    elif kind == "PodTemplate":
        obj = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "team-a"}, "template": tmpl}
    elif kind == "CronJob":
        obj = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": tmpl}}},
        }
    else:
        obj = {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": {"template": tmpl},
        }
    group, _, version = api.rpartition("/")
    b = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"kind-{kind}",
            "kind": {"group": group, "version": version, "kind": kind},
            "operation": "CREATE",
            "name": "x",
            "namespace": "team-a",
            "userInfo": {"username": "bob"},
            "object": obj,
            "dryRun": False,
        },
    }
    status, resp = srv.post(b)
    assert status == 200 and resp["response"]["allowed"] is False
    assert "KF-POD-001" in resp["response"]["status"]["message"]


# -- bad requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,code,fragment",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}}),
            400,
            "admission.k8s.io/v1",
        ),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "ConversionReview"}), 400, "kind AdmissionReview"),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}), 400, "no 'request'"),
        (json.dumps([1, 2, 3]), 400, "JSON object"),
        (
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "u", "operation": "CREATE"},
                }
            ),
            400,
            "request.object",
        ),
        ("[" * 100000 + "]" * 100000, 400, "nested too deeply"),  # refused, the server survives
    ],
    ids=["bad-json", "not-utf8", "v1beta1", "wrong-kind", "no-request", "array", "no-object", "deep-nesting"],
)
def test_bad_requests_get_4xx(srv: Running, payload: bytes | str, code: int, fragment: str) -> None:
    status, raw, _r = srv.request("POST", "/validate", payload, {"Content-Type": "application/json"})
    assert status == code
    err = json.loads(raw)
    assert err["kind"] == "Status" and err["code"] == code and fragment in err["message"]
    assert srv.request("GET", "/healthz")[0] == 200


def test_wrong_method_path_and_content_type(srv: Running) -> None:
    assert srv.request("GET", "/validate")[0] == 405
    assert srv.request("POST", "/nope", b"{}")[0] == 404
    status, _raw, _ = srv.request("POST", "/validate", b"x=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415


def test_oversized_body_refused_before_reading(srv: Running) -> None:
    """Content-Length over 3 MiB: 413 at once, without the server waiting for (or parsing) the body."""
    ctx = ssl.create_default_context(cafile=srv.ca)
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(
            b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 3145729\r\n\r\n{"apiVersion":'
        )
        data = b""
        for _ in range(50):  # the server closes the connection after the answer
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    resp = data.decode()
    assert resp.startswith("HTTP/1.1 413")
    assert "over the limit of 3145728 bytes" in resp


def test_body_at_the_limit_is_read(srv: Running) -> None:
    b = body("create-deployment-hardened.json")
    text = json.dumps(b)
    b["request"]["object"]["metadata"]["annotations"]["padding"] = "x" * (3 * 1024 * 1024 - len(text) - 200)
    data = json.dumps(b)
    assert len(data) <= 3 * 1024 * 1024
    status, resp = srv.post(data)
    assert status == 200 and resp["response"]["uid"] == b["request"]["uid"]


def test_chunked_oversized_body(tmp_path: Path) -> None:
    run = start(tmp_path, POLICY, max_body=64 * 1024)
    try:
        chunks = [b"[" + b"0," * 4000 for _ in range(12)]  # ~96 KiB, no Content-Length
        status, raw, _ = run.request(
            "POST",
            "/validate",
            iter(chunks),
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            chunked=True,
        )
        assert status == 413 and b"over the limit of 65536 bytes" in raw
        assert run.request("GET", "/readyz")[0] == 200
    finally:
        stop(run)


# -- TLS -----------------------------------------------------------------------------------------


def test_plain_http_is_refused(srv: Running) -> None:
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    with pytest.raises((http.client.HTTPException, OSError)):
        c.request(
            "POST",
            "/validate",
            body=json.dumps(body("create-pod-privileged.json")),
            headers={"Content-Type": "application/json"},
        )
        c.getresponse().read()
    c.close()


def _handshake(srv: Running, ctx: ssl.SSLContext, hostname: str = "127.0.0.1") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        return ctx.wrap_socket(raw, server_hostname=hostname)
    except BaseException:
        raw.close()
        raise


def test_tls_1_1_is_refused_and_1_2_accepted(srv: Running) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1 itself: we use them on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            pytest.skip("this OpenSSL cannot even offer TLS 1.1")
        with pytest.raises((ssl.SSLError, OSError)) as refused:
            _handshake(srv, old).close()
    # the server refused the protocol version (not a client-side failure to build a hello)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    tls12 = ssl.create_default_context(cafile=srv.ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with _handshake(srv, tls12) as s:
        assert s.version() == "TLSv1.2"
        assert "GCM" in s.cipher()[0] or "CHACHA20" in s.cipher()[0]
    with _handshake(srv, ssl.create_default_context(cafile=srv.ca)) as s:
        assert s.version() == "TLSv1.3"
    ctx = make_ssl_context(str(srv.dir / "tls.crt"), str(srv.dir / "tls.key"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_certificate_names_the_service(srv: Running) -> None:
    ctx = ssl.create_default_context(cafile=srv.ca)
    for name in (f"{SERVICE}.{NAMESPACE}.svc", f"{SERVICE}.{NAMESPACE}.svc.cluster.local"):
        with _handshake(srv, ctx, name) as s:
            assert s.getpeercert() is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(srv, ctx, "evil.example.com").close()


def test_certificate_rotation_without_restart(tmp_path: Path) -> None:
    run = start(tmp_path, POLICY)
    try:
        new_dir = tmp_path / "rotated"
        issued = certs.issue(SERVICE, NAMESPACE, ip_addresses=("127.0.0.1",))
        paths = certs.write(issued, str(new_dir))
        # replace the served files (as a Secret volume update does) and let the store notice
        (tmp_path / "tls.crt").write_bytes(Path(paths["tls.crt"]).read_bytes())
        (tmp_path / "tls.key").write_bytes(Path(paths["tls.key"]).read_bytes())
        store = run.server.config.app.state.certs
        assert store.maybe_reload()
        with _handshake(run, ssl.create_default_context(cafile=paths["ca.crt"])) as s:
            assert s.version()
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(run, ssl.create_default_context(cafile=run.ca)).close()
    finally:
        stop(run)


# -- health and metrics --------------------------------------------------------------------------


def test_health_and_readiness(srv: Running) -> None:
    assert srv.request("GET", "/healthz")[:2] == (200, b"ok\n")
    status, raw, _ = srv.request("GET", "/readyz")
    assert status == 200 and raw.startswith(b"ok: ")


def test_metrics(srv: Running) -> None:
    srv.post(body("create-pod-privileged.json"))
    srv.request("POST", "/validate", b"{oops", {"Content-Type": "application/json"})
    status, raw, r = srv.request("GET", "/metrics")
    assert status == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    text = raw.decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert (
        values['kubefort_admission_requests_total{operation="CREATE",kind="Pod",decision="deny",dry_run="false"}'] >= 1
    )
    assert values['kubefort_admission_denials_total{rule="KF-POD-001"}'] >= 1
    assert values['kubefort_admission_bad_requests_total{code="400"}'] >= 1
    count = values["kubefort_admission_request_duration_seconds_count"]
    assert values['kubefort_admission_request_duration_seconds_bucket{le="+Inf"}'] == count
    assert count == sum(v for k, v in values.items() if k.startswith("kubefort_admission_requests_total"))
    buckets = [v for k, v in values.items() if k.startswith("kubefort_admission_request_duration_seconds_bucket")]
    assert buckets == sorted(buckets)
    assert "# TYPE kubefort_admission_request_duration_seconds histogram" in text
