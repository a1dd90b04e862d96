"""Loading: what users point kubefort at, bad input, hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kubefort.loading.loader import load_paths, load_text
from kubefort.loading.yamlparse import Limits, parse_yaml_stream
from kubefort.model.objects import DuplicateKey

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25\n"


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_directories_recursive_and_extensions(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", POD.format(name="a"))
    write(tmp_path, "sub/b.yml", POD.format(name="b"))
    write(tmp_path, "sub/deeper/c.json", json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"}}))
    write(tmp_path, "sub/readme.md", "not yaml")
    write(tmp_path, ".hidden/d.yaml", POD.format(name="d"))
    r = load_paths([str(tmp_path)])
    assert sorted(o.name for o in r.objects) == ["a", "b", "c"]
    assert r.files == 3 and not r.errors


def test_multi_document_lists_and_non_kubernetes_documents(tmp_path: Path) -> None:
    text = (
        POD.format(name="one")
        + "---\n# just a comment\n---\nfoo: bar\n---\n- 1\n- 2\n---\n"
        + "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: cm1}\n"
        + "- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s1\n"
        + "---\napiVersion: v1\nkind: ServiceList\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: svc}\n"
    )
    p = write(tmp_path, "m.yaml", text)
    r = load_paths([str(p)])
    assert [o.name for o in r.objects] == ["one", "cm1", "s1", "svc"]
    assert not r.errors
    assert len(r.notes) == 2 and all("skipped" in n for n in r.notes)
    s1 = r.objects[2]
    assert s1.locate(("metadata", "name")).line == 26


def test_json_list(tmp_path: Path) -> None:
    data = {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": "n"},
                "spec": {"hostNetwork": True},
            }
            for i in range(3)
        ],
    }
    p = write(tmp_path, "pods.json", json.dumps(data, indent=2))
    r = load_paths([str(p)])
    assert [o.name for o in r.objects] == ["p0", "p1", "p2"]
    lines = p.read_text().splitlines()
    line = r.objects[2].locate(("spec", "hostNetwork")).line
    assert '"hostNetwork": true' in lines[line - 1]


def test_bad_file_reports_line_and_others_still_load(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", POD.format(name="good"))
    write(
        tmp_path,
        "bad.yaml",
        POD.format(name="ok-before") + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n",
    )
    r = load_paths([str(tmp_path)])
    assert sorted(o.name for o in r.objects) == ["good", "ok-before"]
    assert len(r.errors) == 1
    e = r.errors[0]
    assert e.file.endswith("bad.yaml") and e.line is not None and 10 <= e.line <= 14
    assert "\n" not in e.diagnostics()


def test_error_messages_never_echo_source_text(tmp_path: Path) -> None:
    secret = "hunter2-SUPER-SECRET-value"
    write(tmp_path, "s.yaml", f"apiVersion: v1\nkind: Secret\nstringData:\n  password: {secret}\n  bad: [\n")
    r = load_paths([str(tmp_path)])
    assert r.errors and secret not in r.errors[0].diagnostics()


def test_missing_path_is_an_error() -> None:
    r = load_paths(["/nonexistent/kubefort/path"])
    assert r.errors and "no such file" in r.errors[0].diagnostics()


def test_yaml11_scalars_as_kubernetes_reads_them() -> None:
    docs, errors = parse_yaml_stream("a: yes\nb: off\nc: 0644\nd: 'yes'\ne: 2024-01-01\nf: 1_000\n", "f")
    assert not errors
    assert docs[0].data == {"a": True, "b": False, "c": 420, "d": "yes", "e": "2024-01-01", "f": 1000}


def test_yaml11_forms_in_every_position() -> None:
    cases = {
        "on: push\n": {True: "push"},
        "k: [on, off, y, N]\n": {"k": [True, False, True, False]},
        "k: {a: yes, b: No}\n": {"k": {"a": True, "b": False}},
        "- Y\n- 'n'\n": [True, "n"],
        "k: 0b101\n": {"k": 5},
        "k: -1_0\n": {"k": -10},
        "a: &x {p: 1}\nb:\n  <<: *x\n  q: 2\n": {"a": {"p": 1}, "b": {"p": 1, "q": 2}},
        'k: {"a":yes}\n': {"k": {"a": True}},
    }
    for text, want in cases.items():
        docs, errors = parse_yaml_stream(text, "f")
        assert not errors, text
        assert docs[0].data == want, text


def test_yaml12_fast_path_plain_scalars() -> None:
    docs, _ = parse_yaml_stream("a: true\nb: 10\nc: nginx:1.2\nd: ~\ne: 2024-01-01\nf: '0644'\n", "f")
    assert docs[0].data == {"a": True, "b": 10, "c": "nginx:1.2", "d": None, "e": "2024-01-01", "f": "0644"}


def test_duplicate_keys_are_reported_and_last_value_scanned() -> None:
    # issue 22: a repeated key is a finding (KF-SCHEMA-004), no longer an input error
    r = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: false\n  hostPID: true\n", "dup.yaml"
    )
    assert r.objects[0].get("spec", "hostPID") is True
    assert not r.errors
    assert r.objects[0].source.duplicates == (DuplicateKey(("spec", "hostPID"), (5, 6)),)


def test_namespace_defaulting_and_crd_scope() -> None:
    text = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
        "spec:\n  scope: Cluster\n  names: {kind: Widget}\n---\n"
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: ignored}\n---\n"
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}\n---\n"
        + POD.format(name="p")
    )
    r = load_text(text, "x.yaml", default_namespace="team-a")
    by = {o.name: o for o in r.objects}
    assert by["w"].namespace is None
    assert by["g"].namespace == "team-a" and not by["g"].namespace_explicit
    assert by["cr"].namespace is None
    assert by["p"].namespace == "team-a"


#: appended to the child's code: its own peak RSS (VmHWM belongs to the child's address space, which
#: exec() made new; ru_maxrss would also count the parent's pages that the child shared before exec)
_PEAK = "\nprint(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')), file=__import__('sys').stderr)"


def _run_isolated(code: str) -> tuple[float, int, str]:
    """Run code in a child process; return (seconds, peak RSS MB of the child, stdout)."""
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code + _PEAK], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return time.monotonic() - t, peak_kb // 1024, proc.stdout


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    s = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        s += f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    p = write(
        tmp_path,
        "bomb.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  " + s.replace("\n", "\n  "),
    )
    secs, mb, out = _run_isolated(
        f"from kubefort.loading.loader import load_paths; r = load_paths([{str(p)!r}]); print(len(r.errors), len(r.objects))"
    )
    assert out.split() == ["1", "0"]
    assert secs < 20 and mb < 400


def test_deep_nesting_does_not_crash(tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.yaml", "a: " + "[" * 100000 + "]" * 100000 + "\n")
    block = write(tmp_path, "block.yaml", "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "v: 1\n")
    flow11 = write(tmp_path, "flow11.yaml", "a: yes\nb: " + "{x: " * 50000 + "1" + "}" * 50000 + "\n")
    secs, mb, out = _run_isolated(
        "from kubefort.loading.loader import load_paths\n"
        f"for p in ({str(flow)!r}, {str(block)!r}, {str(flow11)!r}):\n"
        "    r = load_paths([p]); print(len(r.errors), len(r.objects))"
    )
    assert out.split() == ["1", "0", "0", "0", "1", "0"]  # block nesting parses (not an object), flows are refused
    assert secs < 30 and mb < 400


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    with open(p, "w") as fh:
        fh.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n")
        chunk = "  k: " + "x" * 1000 + "\n"
        fh.write(chunk * 2000)
    r = load_paths([str(p)], limits=Limits(max_file_bytes=1024 * 1024))
    assert r.errors and "limit" in str(r.errors[0])


def test_typed_list_items_without_kind_take_the_lists() -> None:
    text = "apiVersion: v1\nkind: NamespaceList\nitems:\n- metadata:\n    name: shop\n    labels: {team: a}\n"
    r = load_text(text, "ns.yaml")
    assert [(o.kind, o.api_version, o.name) for o in r.objects] == [("Namespace", "v1", "shop")]
    assert not r.notes


def test_duplicate_key_error_names_the_line() -> None:
    r = load_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  name: q\n", "dup.yaml")
    assert not r.errors
    assert r.objects[0].source.duplicates[0].lines[-1] == 5
