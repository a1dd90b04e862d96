"""Schema validation (issue 22): exact decoding semantics, honest results, versions, schema sources,
duplicate keys as findings, hostile input."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import tool
from kubefort.analysis.schema.bundle import bundle_index, load_bundle
from kubefort.analysis.schema.validate import SchemaIssue, is_quantity, is_time, validate_builtin
from kubefort.api import ScanOptions, scan
from kubefort.cli import cli
from kubefort.engine.findings import Report, Status
from kubefort.errors import UsageError
from kubefort.loading.loader import load_paths, load_text

BUNDLE = load_bundle(bundle_index().newest)


def issues(text: str, *, from_json: bool = False) -> list[SchemaIssue]:
    """The issues of one object, parsed as kubefort parses input (go-yaml v2 semantics)."""
    (obj,) = load_text(text, "x.json" if from_json else "x.yaml").objects
    raw = obj.raw
    t = BUNDLE.kind(raw["apiVersion"], raw["kind"])
    assert t is not None
    return validate_builtin(raw, t, from_json=from_json)


def brief(found: list[SchemaIssue]) -> list[tuple[str, str]]:
    return [(i.code, ".".join(map(str, i.path))) for i in found]


def pod(container: str = "", spec: str = "") -> str:
    return (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
        + (f"  {spec}\n" if spec else "")
        + f"  containers:\n  - name: app\n    image: nginx\n{container}"
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def not_evaluated(report: Report, name: str) -> dict[str, str]:
    return {
        r.rule.id: r.detail or "" for r in report.results if r.status is Status.NOT_EVALUATED and r.object.name == name
    }


# -- decoding semantics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1", True),
        ("1.0", True),  # YAML to JSON writes it 1
        ("1e3", True),
        ("1.5", False),
        ('"1"', False),
        ("2147483647", True),
        ("2147483648", False),  # int32
        ("-2147483648", True),
        ("true", False),
        ("null", True),
    ],
)
def test_int32(value: str, ok: bool) -> None:
    found = issues(f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  replicas: {value}\n")
    assert (("type", "spec.replicas") not in brief(found)) is ok


def test_int64_and_json_numbers_as_written() -> None:
    assert not [i for i in issues(pod("    securityContext: {runAsUser: 9223372036854775807}\n")) if i.code == "type"]
    assert brief(issues(pod("    securityContext: {runAsUser: 9223372036854775808}\n")))[0][0] == "type"
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1.0}}
    text = json.dumps(doc)
    assert ("type", "spec.replicas") in brief(issues(text, from_json=True))  # JSON: 1.0 is not an int32
    assert ("type", "spec.replicas") not in brief(issues(text.replace("1.0", "1"), from_json=True))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("500m", True),
        ("1.5Gi", True),
        ("1e3", True),
        ("0.5", True),
        (" 2 ", True),
        ("+1Ki", True),
        (".5", True),
        ("1GB", False),
        ("one", False),
        ("1.2.3", False),
        ("", False),
        ("1 Gi", False),
    ],
)
def test_quantity_syntax(text: str, ok: bool) -> None:
    assert is_quantity(text) is ok


def test_quantities_numbers_and_int_or_string() -> None:
    good = pod(
        "    resources: {limits: {cpu: 1, memory: 1e9}, requests: {cpu: 0.25, memory: 128Mi}}\n"
        "    livenessProbe: {httpGet: {port: http}}\n    readinessProbe: {tcpSocket: {port: 8080}}\n"
    )
    assert issues(good) == []
    bad = pod("    resources: {limits: {cpu: true}}\n    livenessProbe: {httpGet: {port: 1.5}}\n")
    assert sorted(brief(issues(bad))) == [
        ("type", "spec.containers.0.livenessProbe.httpGet.port"),
        ("type", "spec.containers.0.resources.limits.cpu"),
    ]


@pytest.mark.parametrize(
    ("text", "micro", "ok"),
    [
        ("2024-01-31T12:00:00Z", False, True),
        ("2024-01-31T12:00:00.123456789+02:00", False, True),
        ("2024-02-30T12:00:00Z", False, False),
        ("2024-01-31 12:00:00Z", False, False),
        ("2024-01-31", False, False),
        ("2024-01-31T12:00:00.000000Z", True, True),
        ("2024-01-31T12:00:00Z", True, False),
        ("2024-01-31T12:00:00.000Z", True, False),
    ],
)
def test_times(text: str, micro: bool, ok: bool) -> None:
    assert is_time(text, micro) is ok


def test_null_everywhere_and_null_struct_items() -> None:
    text = pod(
        "    securityContext: null\n    env: null\n    resources: {limits: null}\n",
        spec="securityContext: null",
    )
    assert issues(text.replace("metadata: {name: p}", "metadata: {name: p, labels: {a: null}}")) == []
    found = issues("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [null]\n")
    assert brief(found) == [("required", "spec.containers.0.name")]  # a null struct item decodes empty


def test_base64_and_map_keys() -> None:
    ok = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: |\n    aGVs\n    bG8=\n  b: ''\n"
    assert issues(ok) == []
    folded = ok.replace("a: |", "a:")  # a plain scalar over two lines folds the newline into a space
    assert brief(issues(folded)) == [("type", "data.a")]
    bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: 'hello!'}\n"
    assert brief(issues(bad)) == [("type", "data.a")]
    keys = pod(spec="nodeSelector: {1: 'x', true: 'y'}")
    assert issues(keys) == []  # YAML to JSON turns scalar keys into strings


def test_free_and_empty_structs() -> None:
    rev = "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: r}\nrevision: 1\ndata: {any: [thing]}\n"
    assert issues(rev) == []
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b.c}\n"
        "spec:\n  group: b.c\n  scope: Namespaced\n  names: {kind: A, plural: as}\n  versions:\n"
        "  - name: v1\n    served: true\n    storage: true\n    subresources: {status: {extra: 1}}\n"
        "    schema: {openAPIV3Schema: {type: object, default: [1, 2], x-kubernetes-preserve-unknown-fields: true,"
        " additionalProperties: false, items: [{type: string}]}}\n"
    )
    # the status subresource is an empty struct: any field in it is unknown
    assert brief(issues(crd)) == [("unknown", "spec.versions.0.subresources.status.extra")]


def test_status_is_not_checked_for_required_fields() -> None:
    text = pod() + "status:\n  containerStatuses:\n  - restartCount: 1\n"
    assert issues(text) == []
    assert brief(issues(pod() + "status:\n  phase: 1\n")) == [("type", "status.phase")]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (pod("    securityContext: {runAsNonroot: true}\n"), 'did you mean "runAsNonRoot"'),
        (pod("    privileged: true\n"), 'did you mean "securityContext.privileged"'),
        (pod(spec="securityContext: {allowPrivilegeEscalation: false}"), "not a pod-level setting"),
        (pod("    imagePullPolcy: Always\n"), 'did you mean "imagePullPolicy"'),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n"
            "  template:\n    metadata:\n      spec: {}\n",
            "belongs one level up",
        ),
    ],
)
def test_unknown_fields_say_what_was_meant(text: str, hint: str) -> None:
    unknown = [i for i in issues(text) if i.code == "unknown"]
    assert len(unknown) == 1 and hint in unknown[0].message, unknown
    assert not unknown[0].invalid  # dropped by the API server: rules judge the object without it


def test_messages_cut_long_values() -> None:
    found = issues(pod(f"    securityContext: {{privileged: '{'x' * 100_000}'}}\n"))
    assert len(found) == 1 and len(found[0].message) < 120 and "(100000 characters)" in found[0].message


# -- honest results -----------------------------------------------------------------------------------


def test_quoted_privileged_is_not_evaluated_and_a_schema_finding(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", pod("    securityContext: {privileged: 'true'}\n"))
    rep = scan(ScanOptions(paths=[str(p)]))
    assert "KF-SCHEMA-002" in {f.rule.id for f in rep.findings}
    reason = not_evaluated(rep, "p")["KF-POD-001"]
    assert (
        reason
        == 'field spec.containers[0].securityContext.privileged is invalid: expected a boolean, found a string ("true")'
    )
    assert rep.exit_code() == 1
    # judged as written when validation is off (every KF-SCHEMA rule skipped): as before issue 22
    off = scan(ScanOptions(paths=[str(p)], skip_rules=["KF-SCHEMA-*"]))
    assert "KF-POD-001" not in not_evaluated(off, "p")
    assert "KF-POD-001" not in {f.rule.id for f in off.findings}


def test_containers_as_string_leaves_no_container_rule_passed(tmp_path: Path) -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: shop}\nspec:\n"
        "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
        "    spec:\n      containers: nginx\n---\n" + pod().replace("name: p}", "name: other, namespace: shop}")
    )
    p = write(tmp_path, "d.yaml", text)
    rep = scan(ScanOptions(paths=[str(p)]))
    container_rules = {m.id for m in rep.rules if m.scope.value == "container"}
    passed = {m.id for m, ref, _ in rep.passes if ref.name == "d"}
    assert not container_rules & passed
    skipped = not_evaluated(rep, "d")
    assert container_rules <= set(skipped) | {m.id for m in rep.rules if m.requires or m.applies}
    assert skipped["KF-POD-001"].startswith("field spec.template.spec.containers is invalid: expected a list")
    # the other pod of the namespace is judged as usual, and rules that do not read the field are too
    assert not not_evaluated(rep, "other").get("KF-POD-001")
    assert "KF-POD-039" not in skipped


def test_unknown_kinds_are_a_note_and_removed_apis_stay_ver_006(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "x.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\nspec: {}\n",
    )
    rep = scan(ScanOptions(paths=[str(p)]))
    assert not rep.errors and not rep.rule_errors
    assert any("no schema known for example.com/v1 Widget (1 object)" in n for n in rep.notes)
    assert set(not_evaluated(rep, "w")) == {"KF-SCHEMA-006"}
    old = [f.rule.id for f in rep.findings if f.object.name == "old"]
    assert "KF-VER-006" in old and not [r for r in old if r.startswith("KF-SCHEMA")]
    assert not [r for r in not_evaluated(rep, "old") if r.startswith("KF-SCHEMA")]


def test_validation_only_run(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", pod("    securityContext: {privileged: 'true'}\n"))
    rep = scan(ScanOptions(paths=[str(p)], rules=["KF-SCHEMA-*"]))
    assert {m.id for m in rep.rules} == {f"KF-SCHEMA-00{i}" for i in range(1, 7)}
    assert [f.rule.id for f in rep.findings] == ["KF-SCHEMA-002"]


def test_duplicate_keys_are_findings_that_suppressions_cover(tmp_path: Path) -> None:
    text = pod("    securityContext: {}\n    securityContext: {privileged: true}\n")
    p = write(tmp_path, "dup.yaml", text)
    rep = scan(ScanOptions(paths=[str(p)], rules=["KF-SCHEMA-004"]))
    assert not rep.errors and rep.exit_code() == 1
    (f,) = rep.findings
    assert f.path_str == "spec.containers[0].securityContext" and f.location.line == 9
    assert "appears 2 times (lines 8, 9)" in f.message
    quiet = text.replace(
        "metadata: {name: p}", "metadata: {name: p, annotations: {kubefort.io/ignore: 'KF-SCHEMA-004=legacy'}}"
    )
    rep = scan(ScanOptions(paths=[str(write(tmp_path, "dup2.yaml", quiet))], rules=["KF-SCHEMA-004"]))
    assert rep.findings[0].suppressed and rep.exit_code() == 0


# -- versions and schema sources ----------------------------------------------------------------------


def test_kube_version_picks_the_bundle(tmp_path: Path) -> None:
    claim = "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec: {}\n"
    p = write(tmp_path, "c.yaml", claim)
    assert not scan(ScanOptions(paths=[str(p)], rules=["KF-SCHEMA-*"])).findings  # newest bundled
    old = scan(ScanOptions(paths=[str(p)], rules=["KF-SCHEMA-*"], kube_version="v1.33.4"))
    assert [f.rule.id for f in old.findings] == ["KF-SCHEMA-005"]
    assert "not served by Kubernetes 1.33" in old.findings[0].message
    with pytest.raises(UsageError, match=r"bundled: 1\.33"):
        scan(ScanOptions(paths=[str(p)], kube_version="1.20"))
    assert bundle_index().versions[-3:] == ("1.35", "1.36", "1.37")  # at least the three supported minors


def test_kube_version_is_also_ver_006s_target(tmp_path: Path) -> None:
    hpa = "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {}\n"
    p = write(tmp_path, "h.yaml", hpa)
    rep = scan(ScanOptions(paths=[str(p)], rules=["KF-VER-006"], kube_version="1.33"))
    assert "(target 1.33)" in rep.findings[0].message


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""
WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: big, colour: red}\n"


def _crd_messages(rep: Report) -> list[tuple[str, str]]:
    return sorted((f.path_str, f.subcode or "") for f in rep.findings if f.rule.id == "KF-SCHEMA-006")


def test_schema_dir_with_crds_and_kubeconform_json(tmp_path: Path) -> None:
    cr = write(tmp_path, "in/w.yaml", WIDGET)
    want = [("spec.colour", "unknown"), ("spec.size", "type")]
    assert _crd_messages(scan(ScanOptions(paths=[str(cr)], rules=["KF-SCHEMA-*"]))) == []
    write(tmp_path, "crds/widget.yaml", CRD)
    rep = scan(ScanOptions(paths=[str(cr)], rules=["KF-SCHEMA-*"], schema_dir=str(tmp_path / "crds")))
    assert _crd_messages(rep) == want
    schema = yaml.safe_load(CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["additionalProperties"] = False  # JSON schemas are closed explicitly
    write(tmp_path, "json/example.com/widget_v1.json", json.dumps(schema))
    rep = scan(ScanOptions(paths=[str(cr)], rules=["KF-SCHEMA-*"], schema_dir=str(tmp_path / "json")))
    assert _crd_messages(rep) == want
    write(tmp_path, "flat/widget_v1.json", json.dumps(schema))
    rep = scan(ScanOptions(paths=[str(cr)], rules=["KF-SCHEMA-*"], schema_dir=str(tmp_path / "flat")))
    assert _crd_messages(rep) == want
    with pytest.raises(UsageError, match="no such directory"):
        scan(ScanOptions(paths=[str(cr)], schema_dir=str(tmp_path / "missing")))


def test_cli_options(tmp_path: Path) -> None:
    write(tmp_path, "crds/widget.yaml", CRD)
    cr = write(tmp_path, "w.yaml", WIDGET)
    args = ["scan", str(cr), "-o", "json", "--rules", "KF-SCHEMA-*", "--kube-version", "1.36"]
    r = CliRunner(mix_stderr=False).invoke(cli, [*args, "--schema-dir", str(tmp_path / "crds")])
    assert r.exit_code == 1, r.stderr
    assert {f["rule_id"] for f in json.loads(r.stdout)["findings"]} == {"KF-SCHEMA-006"}
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", str(cr), "--kube-version", "9.9"])
    assert r.exit_code == 2 and "--kube-version" in r.stderr


def test_crd_in_the_input_validates_its_resources(tmp_path: Path) -> None:
    p = write(tmp_path, "all.yaml", CRD + "---\n" + WIDGET)
    assert _crd_messages(scan(ScanOptions(paths=[str(p)], rules=["KF-SCHEMA-006"]))) == [
        ("spec.colour", "unknown"),
        ("spec.size", "type"),
    ]


@pytest.mark.slow
@pytest.mark.skipif(tool("kubectl") is None and tool("kustomize") is None, reason="no kubectl/kustomize")
def test_kustomize_output_is_validated(tmp_path: Path, with_tools_path: None) -> None:
    write(tmp_path, "k/kustomization.yaml", "resources: [pod.yaml]\nnamespace: shop\n")
    write(tmp_path, "k/pod.yaml", pod("    securityContext: {privileged: 'true'}\n"))
    rep = scan(ScanOptions(kustomize=[str(tmp_path / "k")], rules=["KF-SCHEMA-*"]))
    assert [(f.rule.id, f.path_str) for f in rep.findings] == [
        ("KF-SCHEMA-002", "spec.containers[0].securityContext.privileged")
    ]


# -- hostile input --------------------------------------------------------------------------------------


def _fuzz_found(tmp_path: Path) -> Path:
    """The case fuzzing found: 122 KB, 2,000 aliases of one container with a 100,000-character name."""
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n      - &c\n"
        f"        name: {'a' * 100_000}\n        image: nginx\n" + "      - *c\n" * 2000
    )
    return write(tmp_path, "amplified.yaml", text)


def test_alias_amplification_is_refused_fast(tmp_path: Path) -> None:
    p = _fuzz_found(tmp_path)
    assert 120_000 < p.stat().st_size < 125_000
    tracemalloc.start()
    t = time.monotonic()
    r = load_paths([str(p)])
    secs = time.monotonic() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not r.objects and len(r.errors) == 1
    msg = r.errors[0].diagnostics()
    assert msg.startswith(f"{p}:1: excessive aliasing") and "\n" not in msg and len(msg) < 300
    assert secs < 5 and peak < 50 * 1024 * 1024


def test_alias_node_ratio_like_go_yaml(tmp_path: Path) -> None:
    # 500 aliases of a 500-item list: 99.6% of the decoded nodes come from aliases (go-yaml refuses
    # over 99%), though the expanded text (1 MB of one-letter items) stays under the size bound
    items = ", ".join(["a"] * 500)
    text = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\nx: &l [{items}]\ny: ["
        + ", ".join(["*l"] * 500)
        + "]\n"
    )
    r = load_paths([str(write(tmp_path, "ratio.yaml", text))])
    assert r.errors and "excessive aliasing" in str(r.errors[0])
    fine = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: &l {a: b}, annotations: *l}\n"
    r = load_paths([str(write(tmp_path, "fine.yaml", fine))])
    assert not r.errors and r.objects[0].annotations == {"a": "b"}


def test_long_names_are_quoted_cut(tmp_path: Path) -> None:
    name = "n" * 100_000
    p = write(tmp_path, "long.yaml", pod().replace("name: app", f"name: {name}"))
    rep = scan(ScanOptions(paths=[str(p)]))
    assert rep.findings and max(len(f.message) for f in rep.findings) < 1000


def test_rules_never_crash_on_invalid_values(tmp_path: Path) -> None:
    text = pod(
        "    securityContext: {capabilities: {add: NET_ADMIN}, runAsUser: root, seccompProfile: RuntimeDefault}\n"
        "    ports: {containerPort: 80}\n    env: {A: b}\n    volumeMounts: [{mountPath: 1}]\n",
        spec="volumes: {data: {hostPath: /}}",
    )
    rep = scan(ScanOptions(paths=[str(write(tmp_path, "weird.yaml", text))]))
    assert not rep.rule_errors, [(r.rule.id, r.detail) for r in rep.rule_errors]
